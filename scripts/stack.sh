#!/usr/bin/env bash
# `make up` / `make down`: Kafka, PostgreSQL, the emulator and the three services, kept
# running for exploration (state in .run/stack, logs in .run/stack/logs).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV="$(scripts/ensure-uv.sh)"
case "${1:-}" in
  up)
    $UV sync --locked --quiet
    eval "$(infra/up.sh)"
    export KAFKA_BOOTSTRAP_SERVERS DATABASE_URL
    $UV run qrecon-stack up ;;
  down)
    $UV run qrecon-stack down || true
    infra/down.sh ;;
  status)
    $UV run qrecon-stack status ;;
  *) echo "usage: scripts/stack.sh up|down|status" >&2; exit 2 ;;
esac
