# Console Copilot — developer entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
FUZZ_CASES ?= 10000

.PHONY: demo test test-quick lint services serve soak bench clean i18n

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/console-copilot demo

serve: $(STAMP)
	$(VENV)/bin/console-copilot serve

services:
	bash scripts/services.sh

test: $(STAMP) services
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)

test-quick: $(STAMP)
	$(PY) -m pytest -q -x -m "not browser and not prometheus and not slow" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP) services
	$(PY) bench/ack.py
	$(PY) -m bench.summarize
	$(PY) -m bench.digest
	$(PY) bench/billing.py --rows 2000000
	$(PY) bench/load.py --quick

soak: $(STAMP) services
	COPILOT_FUZZ_CASES=$(FUZZ_CASES) $(PY) -m pytest -q -ra -s --timeout 1800 \
		tests/e2e/test_platform_fuzz.py::test_fuzz_inbound_endpoints_long
	$(PY) -m pytest -q -ra -m slow tests/e2e/test_faults_postgres.py
	$(PY) bench/load.py --rate 300 --seconds 300

clean:
	rm -rf $(VENV) var .pytest_cache
include mk/audit.mk
