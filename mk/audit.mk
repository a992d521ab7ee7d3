# Dependency lock and vulnerability audit; the Makefile pulls this in with `include mk/audit.mk`.
#   make lock          re-pin requirements*.lock from pyproject.toml (keeps current pins)
#   make lock-upgrade  re-pin to the newest allowed versions
#   make audit         pip-audit over requirements.lock; AUDIT_STRICT=1 also fails when the
#                      vulnerability service cannot be reached (default: a loud warning)
VENV ?= .venv
AUDIT_TOOLS_VENV ?= $(VENV)
AUDIT_STRICT ?= 0
AUDIT_SERVICE ?= pypi
AUDIT_TOOLS_STAMP := $(AUDIT_TOOLS_VENV)/.audit-tools
UV_COMPILE = $(AUDIT_TOOLS_VENV)/bin/uv pip compile --generate-hashes --python-version 3.11 \
	--python-platform linux --no-header --quiet

.PHONY: audit lock lock-upgrade

$(AUDIT_TOOLS_STAMP):
	test -x $(AUDIT_TOOLS_VENV)/bin/python || python3 -m venv $(AUDIT_TOOLS_VENV)
	$(AUDIT_TOOLS_VENV)/bin/python -m pip install --quiet "pip-audit==2.10.1" "uv==0.13.9"
	touch $@

lock: $(AUDIT_TOOLS_STAMP)
	$(UV_COMPILE) $(LOCK_FLAGS) pyproject.toml -o requirements.lock
	$(UV_COMPILE) $(LOCK_FLAGS) deploy/build-requirements.in -o requirements-build.lock

lock-upgrade:
	$(MAKE) lock LOCK_FLAGS=--upgrade

audit: $(AUDIT_TOOLS_STAMP)
	@out=$$(mktemp); \
	$(AUDIT_TOOLS_VENV)/bin/pip-audit -r requirements.lock --require-hashes --disable-pip \
		-s $(AUDIT_SERVICE) --progress-spinner off >"$$out" 2>&1; rc=$$?; \
	cat "$$out"; \
	total=$$(grep -c '^[A-Za-z0-9._-]*==' requirements.lock); \
	skipped=$$(grep -c 'could not be audited' "$$out"); \
	if grep -q 'Found [0-9]* known vulnerabilit' "$$out"; then \
		echo "audit: FAILED: known vulnerabilities in requirements.lock (see above)"; \
		rm -f "$$out"; exit 1; \
	fi; \
	rm -f "$$out"; \
	if [ $$rc -ne 0 ] || [ $$skipped -gt 0 ]; then \
		echo "audit: INCOMPLETE: $$skipped of $$total locked packages could not be checked"; \
		echo "audit: the '$(AUDIT_SERVICE)' vulnerability service is not reachable from this machine"; \
		echo "audit: (pypi: /pypi/<name>/<version>/json; osv: api.osv.dev). Run it where it is."; \
		if [ "$(AUDIT_STRICT)" = "1" ]; then exit 2; fi; \
	else \
		echo "audit: clean ($$total packages)"; \
	fi
