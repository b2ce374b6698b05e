#!/usr/bin/env bash
# infra/postgres.sh — a throwaway PostgreSQL cluster on loopback, for machines
# without Docker (dev, CI).
#
# Usage: infra/postgres.sh {start|stop|status|env|reset|psql}
#   start   install Debian's `postgresql` with apt-get if initdb/pg_ctl are
#           missing, initdb (first run only), start, wait for pg_isready, make
#           sure role `qrecon` (superuser, password qrecon) and database
#           `qrecon` exist. No-op if a server already answers on PG_PORT.
#   stop    pg_ctl stop -m fast — only the cluster in .run/postgres/data.
#   status  exit 0 if a server answers on PG_PORT, 1 otherwise.
#   env     print DATABASE_URL=postgresql://qrecon:qrecon@127.0.0.1:<port>/qrecon
#   reset   stop, then wipe .run/postgres.
#   psql    open psql on the qrecon database (extra args are passed on).
#
# Layout (relative to the repo root, git-ignored): .run/postgres/{data,sock,log}
# Auth is `trust`, and the server listens on 127.0.0.1 only (plus a unix socket
# in .run/postgres/sock). PostgreSQL refuses to run as root, so when we are
# root the server runs as the `postgres` system user (created by the package).
#
# Environment: PG_PORT (15432), PG_START_TIMEOUT (60 s), QRECON_RUN_DIR (.run)
set -euo pipefail

HOST=127.0.0.1
# Outside Linux's ephemeral range (32768-60999): a client socket may hold a port in it
# while the server is down, and the restart could not bind (the fault suite restarts it).
PG_PORT="${PG_PORT:-15432}"
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"
DB_USER=qrecon
DB_PASS=qrecon
DB_NAME=qrecon

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
RUN_BASE="${QRECON_RUN_DIR:-$ROOT/.run}"
RUN_DIR="$RUN_BASE/postgres"
DATA_DIR="$RUN_DIR/data"
LOG_DIR="$RUN_DIR/log"
LOG_FILE="$LOG_DIR/postgres.log"
SOCK_DIR="$RUN_DIR/sock"
LOCK_FILE="$RUN_DIR/.lock"

log() { printf 'postgres: %s\n' "$*" >&2; }
die() { printf 'postgres: ERROR: %s\n' "$*" >&2; exit 1; }

IS_ROOT=0; [ "$(id -u)" -eq 0 ] && IS_ROOT=1

as_root() {
  if [ "$IS_ROOT" -eq 1 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $*"; fi
}

# Run a server-side command as the account that owns the cluster.
as_pg() {
  if [ "$IS_ROOT" -eq 1 ]; then (cd / && runuser -u postgres -- "$@")
  else "$@"; fi
}

now() { echo "${EPOCHREALTIME:-$(date +%s)}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- binaries ---------------------------------------------------------------

PG_BIN=""
find_bin() {
  local d
  PG_BIN=""
  # highest installed major version that has a server
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
    [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ] && PG_BIN="$d"
  done
  [ -n "$PG_BIN" ]
}

ensure_bin() {
  find_bin && return 0
  log "PostgreSQL server binaries not found; installing Debian's postgresql package"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  find_bin || die "postgresql installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
}

pg_isready_q() {
  local b=pg_isready
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/pg_isready" ] && b="$PG_BIN/pg_isready"
  command -v "$b" >/dev/null 2>&1 || return 1
  "$b" -q -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -t 2 >/dev/null 2>&1
}

psql_admin() {
  local b=psql
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/psql" ] && b="$PG_BIN/psql"
  PGCONNECT_TIMEOUT=5 "$b" -X -q -v ON_ERROR_STOP=1 -h "$HOST" -p "$PG_PORT" -U postgres -d postgres
}

# --- filesystem ---------------------------------------------------------------

# The postgres user must be able to traverse every parent of the run dir.
ensure_traversable() {
  [ "$IS_ROOT" -eq 1 ] || return 0
  local d="$RUN_DIR"
  while [ "$d" != "/" ]; do
    if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
      log "making $d traversable (o+x) for the postgres user"
      chmod o+x "$d"
    fi
    d="$(dirname "$d")"
  done
}

ensure_dirs() {
  mkdir -p "$RUN_BASE" "$RUN_DIR" "$LOG_DIR" "$SOCK_DIR"
  chmod 755 "$RUN_DIR"
  if [ "$IS_ROOT" -eq 1 ]; then
    id postgres >/dev/null 2>&1 || die "system user 'postgres' does not exist (is the postgresql package installed?)"
    ensure_traversable
    chown postgres: "$LOG_DIR" "$SOCK_DIR"
    [ -d "$DATA_DIR" ] && chown -R postgres: "$DATA_DIR"
  fi
  # unix socket paths are limited to ~107 bytes
  if [ "$(printf '%s/.s.PGSQL.%s' "$SOCK_DIR" "$PG_PORT" | wc -c)" -gt 100 ]; then
    SOCK_DIR="/tmp/qrecon-pg-$(id -u)-$PG_PORT"
    mkdir -p "$SOCK_DIR"
    [ "$IS_ROOT" -eq 1 ] && chown postgres: "$SOCK_DIR"
    log "repo path too long for a unix socket; using $SOCK_DIR"
  fi
  return 0
}

ensure_initdb() {
  [ -f "$DATA_DIR/PG_VERSION" ] && return 0
  log "initdb in $DATA_DIR"
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  chmod 700 "$DATA_DIR"
  [ "$IS_ROOT" -eq 1 ] && chown postgres: "$DATA_DIR"
  as_pg "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=trust >"$LOG_DIR/initdb.log" 2>&1 \
    || { cat "$LOG_DIR/initdb.log" >&2; die "initdb failed"; }
  # loopback only, trust (throwaway test cluster)
  as_pg sh -c "cat > '$DATA_DIR/pg_hba.conf'" <<'EOF'
# Generated by infra/postgres.sh — throwaway cluster, loopback only, trust.
local   all          all                  trust
host    all          all   127.0.0.1/32   trust
host    all          all   ::1/128        trust
local   replication  all                  trust
host    replication  all   127.0.0.1/32   trust
EOF
  as_pg sh -c "echo \"include_if_exists = 'qrecon.conf'\" >> '$DATA_DIR/postgresql.conf'"
}

write_conf() {
  # rewritten on every start so PG_PORT / paths changes are picked up
  as_pg sh -c "cat > '$DATA_DIR/qrecon.conf'" <<EOF
# Generated by infra/postgres.sh on every start — edit the script instead.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = '$SOCK_DIR'
max_connections = 300
shared_buffers = 64MB
work_mem = 4MB
maintenance_work_mem = 64MB
max_wal_size = 1GB
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
EOF
}

remove_stale_pidfile() {
  local f="$DATA_DIR/postmaster.pid" pid comm
  [ -f "$f" ] || return 0
  pid="$(head -n1 "$f" 2>/dev/null || true)"
  comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  if [[ ! "$pid" =~ ^[0-9]+$ ]] || { [ "$comm" != "postgres" ] && [ "$comm" != "postmaster" ]; }; then
    log "removing stale $f (pid $pid not a postgres process)"
    rm -f "$f"
  fi
}

ensure_role_db() {
  psql_admin <<EOF
SELECT 'CREATE ROLE $DB_USER LOGIN SUPERUSER PASSWORD ''$DB_PASS'''
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER') \gexec
SELECT 'CREATE DATABASE $DB_NAME OWNER $DB_USER'
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB_NAME') \gexec
EOF
}

ours_running() {
  [ -n "$PG_BIN" ] && [ -f "$DATA_DIR/PG_VERSION" ] || return 1
  as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1
}

with_lock() {
  mkdir -p "$RUN_DIR"
  exec 9>"$LOCK_FILE"
  flock -w 120 9 || die "could not take $LOCK_FILE"
}

# --- commands ---------------------------------------------------------------

cmd_start() {
  with_lock
  local t0; t0="$(now)"
  find_bin || true
  if pg_isready_q; then
    if ours_running; then
      ensure_role_db || die "could not create role/database $DB_NAME"
      log "already up on $HOST:$PG_PORT (.run/postgres/data); nothing to do"
    else
      log "a server already answers on $HOST:$PG_PORT (not started by this script); nothing to do"
    fi
    return 0
  fi
  ensure_bin
  ensure_dirs
  ensure_initdb
  write_conf
  remove_stale_pidfile
  if ours_running; then
    log "our server is running but not answering yet; waiting"
  else
    log "starting PostgreSQL $(cat "$DATA_DIR/PG_VERSION") on $HOST:$PG_PORT"
    # pg_ctl -w waits for the postmaster to be ready; fd 9 (our lock) is not inherited
    as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t "$PG_START_TIMEOUT" start >/dev/null 9>&- \
      || { tail -n 20 "$LOG_FILE" >&2 || true; die "pg_ctl start failed"; }
  fi
  local deadline=$((SECONDS + PG_START_TIMEOUT))
  until pg_isready_q; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail -n 20 "$LOG_FILE" >&2 || true
      die "server did not answer within ${PG_START_TIMEOUT}s (log: $LOG_FILE)"
    fi
    sleep 0.2
  done
  ensure_role_db || die "could not create role/database $DB_NAME"
  log "up on $HOST:$PG_PORT after $(elapsed "$t0") s"
}

cmd_stop() {
  with_lock
  find_bin || true
  if ours_running; then
    local t0; t0="$(now)"
    log "stopping (pg_ctl stop -m fast)"
    as_pg "$PG_BIN/pg_ctl" -D "$DATA_DIR" -m fast -w -t 60 stop >/dev/null \
      || die "pg_ctl stop failed"
    log "stopped after $(elapsed "$t0") s"
  elif pg_isready_q; then
    log "a server answers on $HOST:$PG_PORT but it is not .run/postgres/data; leaving it"
  else
    log "not running"
  fi
}

cmd_status() {
  find_bin || true
  if pg_isready_q; then
    if ours_running; then log "up on $HOST:$PG_PORT (.run/postgres/data)"
    else log "up on $HOST:$PG_PORT (not started by this script)"; fi
    return 0
  fi
  log "down"
  return 1
}

cmd_reset() {
  cmd_stop
  log "wiping $RUN_DIR"
  rm -rf "$RUN_DIR"
}

case "${1:-}" in
  start)  cmd_start ;;
  stop)   cmd_stop ;;
  status) cmd_status ;;
  env)    echo "DATABASE_URL=postgresql://$DB_USER:$DB_PASS@$HOST:$PG_PORT/$DB_NAME" ;;
  reset)  cmd_reset ;;
  psql)   shift; find_bin || true
          exec "${PG_BIN:+$PG_BIN/}psql" "postgresql://$DB_USER:$DB_PASS@$HOST:$PG_PORT/$DB_NAME" "$@" ;;
  *) echo "usage: $0 {start|stop|status|env|reset|psql}" >&2; exit 2 ;;
esac
