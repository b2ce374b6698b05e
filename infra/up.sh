#!/usr/bin/env bash
# infra/up.sh — start the local Kafka (KRaft) and PostgreSQL for dev/tests,
# without Docker. Progress goes to stderr; stdout gets only the env exports, so
#
#     eval "$(infra/up.sh)"
#
# sets KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL in the calling shell.
#
# Options:
#   --record FILE   append to FILE the name ("kafka", "postgres") of every
#                   service this invocation actually started (one per line);
#                   services that were already up are not recorded. Pair with
#                   `infra/down.sh --only-from FILE` to stop just those, e.g.:
#                       infra/up.sh --record .run/test-started
#                       ... run tests ...
#                       infra/down.sh --only-from .run/test-started
#   (without --record, names are appended to .run/started-by-up)
#
# Settings: KAFKA_PORT, KAFKA_CONTROLLER_PORT, PG_PORT — see infra/kafka.sh and
# infra/postgres.sh. Both services keep their data across down/up; use
# `infra/kafka.sh reset` / `infra/postgres.sh reset` to wipe it.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RECORD="${QRECON_RUN_DIR:-$ROOT/.run}/started-by-up"

while [ $# -gt 0 ]; do
  case "$1" in
    --record) [ $# -ge 2 ] || { echo "up.sh: --record needs a FILE" >&2; exit 2; }
              RECORD="$2"; shift 2 ;;
    --record=*) RECORD="${1#--record=}"; shift ;;
    -h|--help) sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "up.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$(dirname "$RECORD")"
touch "$RECORD"

for svc in postgres kafka; do
  if "$HERE/$svc.sh" status 2>/dev/null; then
    echo "up: $svc already running; leaving it as it is" >&2
  else
    "$HERE/$svc.sh" start
    grep -qx "$svc" "$RECORD" || echo "$svc" >> "$RECORD"
  fi
done

for svc in kafka postgres; do
  echo "export $("$HERE/$svc.sh" env)"
done
