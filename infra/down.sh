#!/usr/bin/env bash
# infra/down.sh — stop the local Kafka and PostgreSQL started by infra/up.sh
# (or by infra/kafka.sh / infra/postgres.sh). Data is kept.
#
#   infra/down.sh                    stop both (only processes these scripts
#                                    started; foreign servers are left alone)
#   infra/down.sh --only-from FILE   stop only the services named in FILE (as
#                                    written by `infra/up.sh --record FILE`),
#                                    then delete FILE. Missing/empty FILE: no-op.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
DEFAULT_RECORD="${QRECON_RUN_DIR:-$ROOT/.run}/started-by-up"

ONLY_FROM=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only-from) [ $# -ge 2 ] || { echo "down.sh: --only-from needs a FILE" >&2; exit 2; }
                 ONLY_FROM="$2"; shift 2 ;;
    --only-from=*) ONLY_FROM="${1#--only-from=}"; shift ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "down.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

rc=0
if [ -n "$ONLY_FROM" ]; then
  if [ ! -s "$ONLY_FROM" ]; then
    echo "down: nothing recorded in $ONLY_FROM; leaving everything running" >&2
    rm -f "$ONLY_FROM"
    exit 0
  fi
  # stop in reverse start order; ignore unknown names
  for svc in $(tac "$ONLY_FROM"); do
    case "$svc" in
      kafka|postgres) "$HERE/$svc.sh" stop || rc=1 ;;
      *) echo "down: ignoring unknown service '$svc' in $ONLY_FROM" >&2 ;;
    esac
  done
  rm -f "$ONLY_FROM"
else
  "$HERE/kafka.sh" stop || rc=1
  "$HERE/postgres.sh" stop || rc=1
  rm -f "$DEFAULT_RECORD"
fi
exit "$rc"
