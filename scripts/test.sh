#!/usr/bin/env bash
# The whole test suite against real Kafka and PostgreSQL (`make test`).
#
# Installs uv when missing, syncs the locked environment, starts Kafka and PostgreSQL
# when they are not already up (infra/up.sh), runs every test, then stops only what it
# started. The fault-injection tests (marker `faults`) stop and restart the servers, so
# tests/conftest.py orders them after all the others.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

UV="$(scripts/ensure-uv.sh)"
$UV sync --locked --quiet

# Debian's docker-compose validates docker-compose.yml without an engine (best effort).
if ! command -v docker-compose >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  { apt-get install -y -q docker-compose || { apt-get update -q && apt-get install -y -q docker-compose; }; } \
    >/dev/null 2>&1 || echo "test: docker-compose not installable; compose file checked statically" >&2
fi

# Debian's chromium for the browser tests (tests/browser); they fail without it.
if CHROMIUM_PATH="$(scripts/ensure-chromium.sh)"; then
  export CHROMIUM_PATH
else
  echo "test: chromium missing; the browser tests will fail" >&2
fi

RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"
STARTED="$RUN_DIR/test-started.$$"
: > "$STARTED"
cleanup() { infra/down.sh --only-from "$STARTED" >&2 || true; }
trap cleanup EXIT

# shellcheck disable=SC1090
eval "$(infra/up.sh --record "$STARTED")"
export KAFKA_BOOTSTRAP_SERVERS DATABASE_URL

$UV run pytest "$@"
