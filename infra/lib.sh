# infra/lib.sh — helpers shared by infra/kafka.sh and infra/postgres.sh (sourced, not run).
# The sourcing script sets NAME (the log prefix), RUN_DIR and LOCK_FILE, and defines
# cmd_stop before calling cmd_reset.

log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() { printf '%s: ERROR: %s\n' "$NAME" "$*" >&2; exit 1; }

IS_ROOT=0; [ "$(id -u)" -eq 0 ] && IS_ROOT=1

as_root() {
  if [ "$IS_ROOT" -eq 1 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"; fi
}

now() { echo "${EPOCHREALTIME:-$(date +%s)}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# One start/stop at a time per server: concurrent test runs and `make up` share it.
# $1: seconds to wait for the lock.
with_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$LOCK_FILE"
  flock -w "$1" 9 || die "could not take $LOCK_FILE"
}

cmd_reset() {
  cmd_stop
  log "wiping $RUN_DIR"
  rm -rf "$RUN_DIR"
}
