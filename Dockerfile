# syntax=docker/dockerfile:1
# Console Copilot image: `docker build -t console-copilot:0.1.0 .`
# Runs as uid 10001 with a read-only root filesystem; /tmp and /app/var are the only writable
# paths (volumes). In a cluster DATABASE_URL points at PostgreSQL; see docs/deploy.md.
# Pin the base by digest too in your registry mirror: python:3.11.14-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (cached layer): every package pinned and hash-checked, wheels only.
COPY requirements.lock requirements-build.lock ./
RUN pip install --require-hashes --only-binary=:all: -r requirements.lock \
    && pip install --require-hashes --only-binary=:all: -r requirements-build.lock
# The project itself, without dependencies and without fetching a build backend.
COPY pyproject.toml ./
COPY bot ./bot
COPY handlers ./handlers
COPY runbooks ./runbooks
COPY policies ./policies
COPY storage ./storage
RUN pip install --no-deps --no-build-isolation --no-index . \
    && pip uninstall --yes setuptools \
    && python -m compileall -q /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    COPILOT_HTTP_HOST=0.0.0.0 \
    COPILOT_HTTP_PORT=8080
RUN groupadd --system --gid 10001 copilot \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin copilot \
    && mkdir -p /app/var \
    && chown 10001:10001 /app/var
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Writable paths under a read-only root filesystem (emptyDir volumes in Kubernetes).
VOLUME ["/tmp", "/app/var"]
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('COPILOT_HTTP_PORT', '8080') + '/healthz', timeout=3)"]
ENTRYPOINT ["console-copilot"]
CMD ["serve"]
