#!/usr/bin/env bash
# `make demo`: on a fresh machine, the whole system on a simulated month of Qonto activity.
# Starts Kafka and PostgreSQL when they are not up (and stops them at the end if it did).
# DEMO_COMMAND picks the `qrecon-stack` subcommand (default demo; backtest-demo.sh sets it).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV="$(scripts/ensure-uv.sh)"
$UV sync --locked --quiet
mkdir -p .run
COMMAND="${DEMO_COMMAND:-demo}"
STARTED="$ROOT/.run/$COMMAND-started.$$"
: > "$STARTED"
trap 'infra/down.sh --only-from "$STARTED" >&2 || true' EXIT
eval "$(infra/up.sh --record "$STARTED")"
export KAFKA_BOOTSTRAP_SERVERS DATABASE_URL
$UV run qrecon-stack "$COMMAND" "$@"
