#!/usr/bin/env bash
# Every benchmark, one after the other on a quiet machine (`make bench`).
# Each bench/<name>.py writes bench/results/<name>.json; bench/report.py merges them into
# bench/results.json and the table in BENCHMARKS.md. Starts Kafka and PostgreSQL when they
# are not up and stops what it started.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV="$(scripts/ensure-uv.sh)"
$UV sync --locked --quiet

mkdir -p .run bench/results
STARTED="$ROOT/.run/bench-started.$$"
: > "$STARTED"
trap 'infra/down.sh --only-from "$STARTED" >&2 || true' EXIT
eval "$(infra/up.sh --record "$STARTED")"
export KAFKA_BOOTSTRAP_SERVERS DATABASE_URL

# Order: cheapest first; a failing benchmark is reported and the others still run.
BENCHES=(${BENCHES:-matcher_engine matcher_organizations sim_emulator qonto_client ingest sync matcher_service review_api desk})
failed=()
for name in "${BENCHES[@]}"; do
  script="bench/$name.py"
  if [ ! -f "$script" ]; then
    echo "bench: $script missing" >&2; failed+=("$name"); continue
  fi
  echo "bench: running $name" >&2
  if ! $UV run python "$script"; then
    echo "bench: $name FAILED" >&2; failed+=("$name")
  fi
done
$UV run python bench/report.py
if [ "${#failed[@]}" -gt 0 ]; then
  echo "bench: failed: ${failed[*]}" >&2
  exit 1
fi
