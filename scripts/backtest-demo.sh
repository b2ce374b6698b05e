#!/usr/bin/env bash
# `make backtest-demo`: the demo's month in shadow mode (MATCHER_AUTO_MATCH=false), a
# scripted review session through the review API (a reviewer who knows the emulator's
# ground truth), then `qonto-matcher backtest`; writes services/matcher/docs/
# backtest-demo-month.md. Starts Kafka and PostgreSQL when they are not up (and stops
# them at the end if it did). Arguments go to `qrecon-stack backtest-demo` (--start DATE,
# --seed N, --out FILE).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV="$(scripts/ensure-uv.sh)"
$UV sync --locked --quiet
mkdir -p .run
STARTED="$ROOT/.run/backtest-demo-started.$$"
: > "$STARTED"
trap 'infra/down.sh --only-from "$STARTED" >&2 || true' EXIT
eval "$(infra/up.sh --record "$STARTED")"
export KAFKA_BOOTSTRAP_SERVERS DATABASE_URL
$UV run qrecon-stack backtest-demo "$@"
