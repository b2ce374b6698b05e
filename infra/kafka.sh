#!/usr/bin/env bash
# infra/kafka.sh — a real single-node Apache Kafka (KRaft, combined broker +
# controller) on loopback, for machines without Docker (dev, CI).
#
# Usage: infra/kafka.sh {start|stop|status|env|reset|logs|topics ARGS|configs ARGS}
#   start   resolve the jars (first run only), format storage (first run only),
#           start the broker in the background, wait until it answers metadata
#           requests and every partition has a leader. No-op if something already
#           answers on KAFKA_PORT.
#   stop    SIGTERM (graceful), wait, then SIGKILL — only a broker we started
#           (pid file in .run/kafka/). Data is kept: start again resumes it.
#   status  exit 0 if a broker answers on KAFKA_PORT, 1 otherwise.
#   env     print KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:<port>
#   reset   stop, then wipe .run/kafka (data, config, logs).
#   logs    print the path of the server log.
#   topics ARGS   kafka-topics (TopicCommand) against the broker on KAFKA_PORT, e.g.
#                 infra/kafka.sh topics --describe --topic invoices.v1
#   configs ARGS  kafka-configs (ConfigCommand) against it, e.g.
#                 infra/kafka.sh configs --describe --entity-type topics --entity-name invoices.v1
#
# Where things go (relative to the repo root, both git-ignored):
#   .cache/kafka-<version>/libs   jars from Maven Central (infra/kafka/pom.xml)
#   .run/kafka/                   server.properties, data/, logs/, kafka.pid
#
# Environment:
#   KAFKA_PORT (9092)  KAFKA_CONTROLLER_PORT (9093)
#   KAFKA_HEAP_OPTS ("-Xms128m -Xmx512m")  KAFKA_JVM_OPTS (extra JVM flags)
#   KAFKA_START_TIMEOUT (240 s)  KAFKA_STOP_TIMEOUT (30 s)
#   QRECON_RUN_DIR / QRECON_CACHE_DIR override .run / .cache
#
# Jars come from Maven Central via `mvn` (Java 17 + Maven required; installed
# with apt-get if missing and we are root). Nothing is downloaded from apache.org.
set -euo pipefail

KAFKA_VERSION=3.9.1
HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-240}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
POM="$SCRIPT_DIR/kafka/pom.xml"
CACHE_DIR="${QRECON_CACHE_DIR:-$ROOT/.cache}/kafka-$KAFKA_VERSION"
LIBS="$CACHE_DIR/libs"
MARKER="$CACHE_DIR/.complete"
RUN_DIR="${QRECON_RUN_DIR:-$ROOT/.run}/kafka"
DATA_DIR="$RUN_DIR/data"
LOG_DIR="$RUN_DIR/logs"
CONFIG="$RUN_DIR/server.properties"
LOG4J="$RUN_DIR/log4j.properties"
TOOLS_LOG4J="$RUN_DIR/tools-log4j.properties"
TOOLS_CLIENT="$RUN_DIR/tools-client.properties"
PID_FILE="$RUN_DIR/kafka.pid"
LOCK_FILE="$RUN_DIR/.lock"

NAME=kafka
# shellcheck source=infra/lib.sh
. "$SCRIPT_DIR/lib.sh"

# --- prerequisites ----------------------------------------------------------

ensure_tools() {
  local missing=()
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  # mvn is only needed to resolve the jars
  if [ ! -f "$MARKER" ] && ! command -v mvn >/dev/null 2>&1; then missing+=(maven); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]} with apt-get"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  local major
  major="$(java -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p')"
  if [ -n "$major" ] && [ "$major" -lt 11 ]; then die "Java >= 11 required (found $major)"; fi
}

pom_sum() { sha256sum "$POM" | cut -d' ' -f1; }

ensure_jars() {
  if [ -f "$MARKER" ] && [ "$(cat "$MARKER")" = "$(pom_sum)" ] \
     && [ -f "$LIBS/kafka_2.13-$KAFKA_VERSION.jar" ]; then
    return 0
  fi
  log "resolving Kafka $KAFKA_VERSION and its dependencies from Maven Central (first run only)"
  mkdir -p "$CACHE_DIR"
  local tmp="$CACHE_DIR/libs.tmp.$$"
  rm -rf "$tmp"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" -DincludeScope=runtime >"$CACHE_DIR/mvn.log" 2>&1; then
    rm -rf "$tmp"
    sed 's/\x1b\[[0-9;]*m//g' "$CACHE_DIR/mvn.log" | tail -n 30 >&2
    die "mvn dependency:copy-dependencies failed (is Maven Central reachable? full log: $CACHE_DIR/mvn.log)"
  fi
  [ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ] || { rm -rf "$tmp"; die "kafka_2.13 jar missing after resolution"; }
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  pom_sum > "$MARKER"
  log "$(ls "$LIBS" | wc -l) jars in $LIBS"
}

# --- helpers ----------------------------------------------------------------

alive() {
  # running and not a zombie waiting to be reaped
  local st
  kill -0 "$1" 2>/dev/null || return 1
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [ -n "$st" ] && [ "$st" != "Z" ]
}


port_open() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

our_pid() {
  # prints the pid of the broker we started, if it is still alive
  [ -f "$PID_FILE" ] || return 1
  local pid; pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q "kafka.Kafka $CONFIG" || return 1
  echo "$pid"
}

run_tool() {
  # run a Kafka CLI class quietly, with a short-lived small JVM
  java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
    -Dlog4j.configuration="file:$TOOLS_LOG4J" -cp "$LIBS/*" "$@"
}

metadata_ok() {
  # a real metadata round trip, bounded in time
  [ -f "$LIBS/kafka-tools-$KAFKA_VERSION.jar" ] || return 1
  write_tool_configs
  timeout 25 java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
    -Dlog4j.configuration="file:$TOOLS_LOG4J" -cp "$LIBS/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
    --command-config "$TOOLS_CLIENT" --list >/dev/null 2>&1
}

answers() { port_open "$KAFKA_PORT" && metadata_ok; }

leaders_ok() {
  # every partition has a leader again. A restarted broker answers metadata requests
  # before it has re-elected itself leader of each partition (thousands of them after a
  # long test run); until then clients get NotLeaderForPartition. "Up" means usable.
  local out
  out="$(timeout 60 java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto \
    -Dlog4j.configuration="file:$TOOLS_LOG4J" -cp "$LIBS/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$HOST:$KAFKA_PORT" \
    --command-config "$TOOLS_CLIENT" --describe --unavailable-partitions 2>/dev/null)" || return 1
  [ -z "$out" ]
}

write_tool_configs() {
  mkdir -p "$RUN_DIR"
  [ -f "$TOOLS_LOG4J" ] || cat > "$TOOLS_LOG4J" <<'EOF'
log4j.rootLogger=ERROR, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
EOF
  [ -f "$TOOLS_CLIENT" ] || cat > "$TOOLS_CLIENT" <<'EOF'
request.timeout.ms=5000
default.api.timeout.ms=10000
retry.backoff.ms=200
EOF
}

write_server_configs() {
  mkdir -p "$DATA_DIR" "$LOG_DIR"
  cat > "$CONFIG" <<EOF
# Generated by infra/kafka.sh — rewritten on every start; edit the script instead.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
# Topics are provisioned (qrecon-topics apply), never created by a producer or consumer
# that asks for one: a typo or a missing provisioning step fails loudly instead.
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
group.initial.rebalance.delay.ms=0
# After a SIGKILL the restarted broker must wait for its old registration's
# session to expire (default 9 s); shorter here so fault-injection restarts are quick.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=2
log.retention.hours=168
log.segment.bytes=104857600
EOF
  cat > "$LOG4J" <<EOF
# Generated by infra/kafka.sh
log4j.rootLogger=INFO, server
log4j.appender.server=org.apache.log4j.RollingFileAppender
log4j.appender.server.File=$LOG_DIR/server.log
log4j.appender.server.MaxFileSize=50MB
log4j.appender.server.MaxBackupIndex=3
log4j.appender.server.layout=org.apache.log4j.PatternLayout
log4j.appender.server.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.clients=WARN
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.org.apache.kafka.storage.internals.log.LogCleaner=WARN
EOF
  write_tool_configs
}

random_cluster_id() {
  # 16 random bytes, base64url without padding (what StorageTool random-uuid prints);
  # avoid a leading '-' like Kafka's Uuid.randomUuid does.
  local id
  while :; do
    id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [ "${id:0:1}" != "-" ] && { echo "$id"; return; }
  done
}

ensure_formatted() {
  [ -f "$DATA_DIR/meta.properties" ] && return 0
  local id; id="$(random_cluster_id)"
  log "formatting storage in $DATA_DIR (cluster id $id)"
  run_tool kafka.tools.StorageTool format -t "$id" -c "$CONFIG" >/dev/null \
    || die "StorageTool format failed"
  echo "$id" > "$RUN_DIR/cluster.id"
}

tail_log() {
  local f
  for f in "$LOG_DIR/stdout.log" "$LOG_DIR/server.log"; do
    [ -s "$f" ] && { echo "---- last lines of $f ----" >&2; tail -n 25 "$f" >&2; }
  done
  return 0
}

# --- commands ---------------------------------------------------------------

cmd_start() {
  with_lock 180
  local t0 pid; t0="$(now)"
  if pid="$(our_pid)"; then
    log "our broker (pid $pid) is running; waiting for it to answer"
  elif port_open "$KAFKA_PORT"; then
    ensure_tools; ensure_jars
    if metadata_ok; then
      log "already answering on $HOST:$KAFKA_PORT (not started by this script); nothing to do"
      return 0
    fi
    die "port $KAFKA_PORT is taken by something that does not answer as Kafka"
  else
    ensure_tools
    ensure_jars
    if port_open "$KAFKA_CONTROLLER_PORT"; then
      die "controller port $KAFKA_CONTROLLER_PORT is already in use (set KAFKA_CONTROLLER_PORT)"
    fi
    rm -f "$PID_FILE"
    write_server_configs
    ensure_formatted
    log "starting Kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT)"
    # setsid: own session, so the broker survives the caller's Ctrl-C / job kill.
    # shellcheck disable=SC2086
    setsid java $KAFKA_HEAP_OPTS -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
      -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
      -Djava.awt.headless=true -Dkafka.logs.dir="$LOG_DIR" \
      -Dlog4j.configuration="file:$LOG4J" $KAFKA_JVM_OPTS \
      -cp "$LIBS/*" kafka.Kafka "$CONFIG" \
      </dev/null >"$LOG_DIR/stdout.log" 2>&1 9>&- &
    pid=$!
    echo "$pid" > "$PID_FILE"
  fi

  # wait until the broker really answers (TCP, then a metadata request)
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while :; do
    if ! alive "$pid"; then
      rm -f "$PID_FILE"
      tail_log
      die "broker process exited during startup (logs in $LOG_DIR)"
    fi
    if port_open "$KAFKA_PORT" && metadata_ok && leaders_ok; then
      log "up on $HOST:$KAFKA_PORT (pid $pid) after $(elapsed "$t0") s"
      return 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      tail_log
      die "broker did not answer within ${KAFKA_START_TIMEOUT}s (pid $pid still running; logs in $LOG_DIR)"
    fi
    sleep 0.5
  done
}

cmd_stop() {
  with_lock 180
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PID_FILE"
    if port_open "$KAFKA_PORT"; then
      log "something answers on $HOST:$KAFKA_PORT but it was not started by this script; leaving it"
    else
      log "not running"
    fi
    return 0
  fi
  local t0; t0="$(now)"
  log "stopping broker (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while alive "$pid"; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "still running after ${KAFKA_STOP_TIMEOUT}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
  rm -f "$PID_FILE"
  log "stopped after $(elapsed "$t0") s"
}

cmd_status() {
  local pid who="not started by this script"
  pid="$(our_pid)" && who="pid $pid, started by infra/kafka.sh"
  if port_open "$KAFKA_PORT" && metadata_ok; then
    log "up on $HOST:$KAFKA_PORT ($who)"
    return 0
  fi
  if [ -n "${pid:-}" ]; then log "process $pid is running but does not answer on $HOST:$KAFKA_PORT"
  else log "down"; fi
  return 1
}

cmd_tool() {
  # a Kafka CLI of the same distribution as the broker, pointed at it
  local class="$1"; shift
  ensure_tools; ensure_jars; write_tool_configs
  run_tool "$class" --bootstrap-server "$HOST:$KAFKA_PORT" --command-config "$TOOLS_CLIENT" "$@"
}

case "${1:-}" in
  start)  cmd_start ;;
  topics) shift; cmd_tool org.apache.kafka.tools.TopicCommand "$@" ;;
  configs) shift; cmd_tool kafka.admin.ConfigCommand "$@" ;;
  stop)   cmd_stop ;;
  status) cmd_status ;;
  env)    echo "KAFKA_BOOTSTRAP_SERVERS=$HOST:$KAFKA_PORT" ;;
  reset)  cmd_reset ;;
  logs)   echo "$LOG_DIR/server.log" ;;
  *) echo "usage: $0 {start|stop|status|env|reset|logs|topics ARGS|configs ARGS}" >&2; exit 2 ;;
esac
