# syntax=docker/dockerfile:1
# One Dockerfile, one image per service: `docker build --build-arg PACKAGE=meterflow-writer
# --build-arg COMMAND=meterflow-writer .` (docs/deploy.md: why an image per service, and their sizes).
# PACKAGE is the workspace member, COMMAND its console script. Target `cli` is the `meterflow` CLI image
# (PACKAGE=meterflow-cli): migrations, topics, tenants and keys; it serves nothing, so it has no HEALTHCHECK.
# Reproducible from uv.lock: `uv sync --frozen` installs exactly the locked versions of that member's
# dependency closure and nothing else (no dev tools, no other service).
ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
ARG PACKAGE=meterflow-query-api
ARG COMMAND=meterflow-api
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode compiled now: the running container's root filesystem is read-only.
ENV UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src
COPY pyproject.toml uv.lock ./
COPY libs libs
COPY services services
COPY tools tools
# --no-editable: the venv holds the workspace packages themselves, so the runtime stage needs no /src.
RUN uv sync --frozen --no-dev --no-editable --package "${PACKAGE}" \
    && test -x "/app/.venv/bin/${COMMAND}" \
    && ln -s "${COMMAND}" /app/.venv/bin/meterflow-service

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 meterflow \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin meterflow
COPY --from=build --chown=0:0 /app/.venv /app/.venv
# Nothing is written below / at run time: no bytecode, logs on stdout, scratch space in $TMPDIR (/tmp, an
# emptyDir or tmpfs when the root filesystem is read-only; the normalizer's NORMALIZER_DATA_DIR lives there).
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 TMPDIR=/tmp \
    NORMALIZER_DATA_DIR=/tmp/normalizer
WORKDIR /app
USER 10001:10001

FROM runtime AS cli
HEALTHCHECK NONE
CMD ["meterflow", "--help"]

FROM runtime AS service
ARG HEALTH_PORT=8000
# The service's ops port (9101 poller, 9102 normalizer, 9103 writer, 8000 API); set HEALTHCHECK_URL when
# the port is changed through the service's settings.
ENV HEALTHCHECK_URL=http://127.0.0.1:${HEALTH_PORT}/healthz
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['HEALTHCHECK_URL'], timeout=2)"]
EXPOSE ${HEALTH_PORT}
CMD ["meterflow-service"]
