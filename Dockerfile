# One image for the three services and the emulator (multi-stage, uv, locked).
# docker compose picks the command per service; see docker-compose.yml.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
COPY --from=ghcr.io/astral-sh/uv:0.13.8 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
WORKDIR /app
# Dependencies first, from the lock file alone, so code changes reuse this layer. uv needs
# every workspace member's pyproject.toml to read the workspace (tests/deploy checks the list).
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/pyproject.toml
COPY services/ingest/pyproject.toml services/ingest/pyproject.toml
COPY services/sync/pyproject.toml services/sync/pyproject.toml
COPY services/matcher/pyproject.toml services/matcher/pyproject.toml
COPY tools/qonto-sim/pyproject.toml tools/qonto-sim/pyproject.toml
COPY tools/devstack/pyproject.toml tools/devstack/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace
COPY libs libs
COPY services services
COPY tools tools
# The image runs the services and the emulator; the local process supervisor stays out.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable --no-install-package qrecon-devstack

FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --system --uid 10001 --home-dir /app app
COPY --from=build --chown=app:app /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app
USER app
# Each service's command is set by docker-compose.yml (qonto-ingest, qonto-sync run, ...).
CMD ["qonto-ingest"]
