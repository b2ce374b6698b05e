# The production image: the three services and libs/common only (multi-stage, uv, locked).
# docker compose picks the command per service; see docker-compose.yml.
# `--target full` adds the tools: the Qonto emulator, the devstack harness, the synthetic
# world and the matcher's evaluation harness (`qonto-matcher evaluate`) (compose's `emulator`
# profile builds it); none belongs in production (the emulator serves fake credentials).
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
COPY tools/synthworld/pyproject.toml tools/synthworld/pyproject.toml
COPY tools/matcher-eval/pyproject.toml tools/matcher-eval/pyproject.toml
# --package: these members and what they need (libs/common), nothing else of the workspace.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-install-workspace \
      --package qrecon-ingest --package qrecon-sync --package qrecon-matcher
COPY libs libs
COPY services services
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable \
      --package qrecon-ingest --package qrecon-sync --package qrecon-matcher

FROM build AS build-full
COPY tools tools
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --locked --no-dev --no-editable

FROM ${PYTHON_IMAGE} AS base
RUN useradd --system --uid 10001 --home-dir /app app
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1
WORKDIR /app
USER app

FROM base AS full
COPY --from=build-full --chown=app:app /app/.venv /app/.venv
CMD ["qonto-sim", "serve"]

# Last, so that a plain `docker build` gives the production image.
FROM base AS runtime
COPY --from=build --chown=app:app /app/.venv /app/.venv
# Each service's command is set by docker-compose.yml (qonto-ingest, qonto-sync run, ...).
CMD ["qonto-ingest"]
