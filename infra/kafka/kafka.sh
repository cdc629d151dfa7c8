#!/usr/bin/env bash
# Local Apache Kafka broker for Meterflow: KRaft, single node, run natively from Maven Central jars.
#
#   bash infra/kafka/kafka.sh start    # fetch jars if needed, format storage once, start, wait until ready
#   bash infra/kafka/kafka.sh stop     # SIGTERM, then SIGKILL after 30 s
#   bash infra/kafka/kafka.sh status   # exit 0 when the broker is up
#   bash infra/kafka/kafka.sh reset    # stop and delete the data (keeps the jars)
#   bash infra/kafka/kafka.sh fetch    # only download the jars
#
# Everything it writes lives under <repo>/.local/kafka/ (git-ignored), whatever the cwd.
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_STATE_DIR (<repo>/.local/kafka: data,
# logs, config and pid of a second broker go elsewhere; the jars stay in <repo>/.local/kafka), KAFKA_HEAP_OPTS (-Xmx512m -Xms512m),
# KAFKA_OPTS (extra JVM flags), KAFKA_START_TIMEOUT (60 s), JAVA_HOME.
# SASL/SCRAM (a second broker for the security tests): KAFKA_SASL_PORT adds a SASL_PLAINTEXT listener with
# SCRAM-SHA-512, and KAFKA_SCRAM_USER / KAFKA_SCRAM_PASSWORD_FILE name the one user formatted into the
# storage (the PLAINTEXT listener stays, for the broker itself and the readiness check).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
POM="$SCRIPT_DIR/pom.xml"
TEMPLATE="$SCRIPT_DIR/server.properties"
LOG4J_CONF="$SCRIPT_DIR/log4j2.properties"

KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$POM" | head -n1)
[[ -n "$KAFKA_VERSION" ]] || { echo "kafka.sh: no <kafka.version> in $POM" >&2; exit 1; }

HOST=127.0.0.1
PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx512m -Xms512m}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-60}
SASL_PORT=${KAFKA_SASL_PORT:-}
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

STATE_DIR="${KAFKA_STATE_DIR:-$REPO_ROOT/.local/kafka}"
LIBS_DIR="$REPO_ROOT/.local/kafka/libs-$KAFKA_VERSION"
LIBS_MARKER="$LIBS_DIR/.fetched"
DATA_DIR="$STATE_DIR/data"
LOG_DIR="$STATE_DIR/logs"
CONFIG="$STATE_DIR/server.properties"
PID_FILE="$STATE_DIR/kafka.pid"
MAIN_CLASS=kafka.Kafka
STORAGE_TOOL=kafka.tools.StorageTool

log() { echo "kafka.sh: $*" >&2; }

port_open() {
  # bash's /dev/tcp: no nc/ss needed; the timeout guards against a SYN that is never answered
  timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null
}

# pid of our broker if its process is alive (and really is a Kafka JVM, not a recycled pid), else empty
broker_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] || return 0
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$MAIN_CLASS"; then
    echo "$pid"
  fi
}

pom_digest() { sha256sum "$POM" | cut -d' ' -f1; }

cmd_fetch() {
  # the marker holds the pom's digest, so editing the dependencies refetches even at the same version
  if [[ -f "$LIBS_MARKER" && "$(cat "$LIBS_MARKER")" == "$(pom_digest)" ]]; then
    return 0
  fi
  command -v mvn >/dev/null || { log "mvn not found (needed once to fetch the broker jars)"; exit 1; }
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into ${LIBS_DIR#"$REPO_ROOT"/}"
  local tmp="$LIBS_DIR.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$STATE_DIR" "$(dirname "$LIBS_DIR")"
  # copy into a temporary folder and rename: an interrupted fetch never leaves a half-filled libs dir
  mkdir -p "$LOG_DIR"
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$tmp" >"$LOG_DIR/fetch.log" 2>&1; then
    rm -rf "$tmp"
    log "mvn failed to fetch the jars:"
    tail -n 30 "$LOG_DIR/fetch.log" >&2
    exit 1
  fi
  rm -rf "$LIBS_DIR"
  mv "$tmp" "$LIBS_DIR"
  pom_digest >"$LIBS_MARKER"
}

render_config() {
  mkdir -p "$STATE_DIR" "$DATA_DIR" "$LOG_DIR"
  sed -e "s#@KAFKA_PORT@#$PORT#g" \
      -e "s#@KAFKA_CONTROLLER_PORT@#$CONTROLLER_PORT#g" \
      -e "s#@KAFKA_DATA_DIR@#$DATA_DIR#g" \
      "$TEMPLATE" >"$CONFIG.tmp"
  if [[ -n "$SASL_PORT" ]]; then
    sed -i -e "s#^listeners=PLAINTEXT://\([^,]*\),#listeners=PLAINTEXT://\1,SASL_PLAINTEXT://$HOST:$SASL_PORT,#" \
      -e "s#^advertised.listeners=.*#&,SASL_PLAINTEXT://$HOST:$SASL_PORT#" \
      -e "s#^listener.security.protocol.map=.*#&,SASL_PLAINTEXT:SASL_PLAINTEXT#" "$CONFIG.tmp"
    printf '%s\n' "" "# SASL/SCRAM listener (KAFKA_SASL_PORT)" "sasl.enabled.mechanisms=SCRAM-SHA-512" \
      "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;" \
      >>"$CONFIG.tmp"
  fi
  mv "$CONFIG.tmp" "$CONFIG"
}

# the JVM command line shared by the broker and the storage tool; extra args go after the classpath
java_cmd() {
  local -n _out=$1
  shift
  # shellcheck disable=SC2206  # HEAP_OPTS / KAFKA_OPTS are whitespace-separated flag lists
  _out=("$JAVA" $HEAP_OPTS ${KAFKA_OPTS:-}
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true
    -Dkafka.logs.dir="$LOG_DIR" -Dlog4j2.configurationFile="$LOG4J_CONF"
    -cp "$LIBS_DIR/*" "$@")
}

storage_tool() {
  local cmd
  # a small heap of its own: the tool runs for a second, next to a broker that may be up
  HEAP_OPTS="-Xmx128m" java_cmd cmd "$STORAGE_TOOL" "$@"
  "${cmd[@]}"
}

format_storage() {
  [[ -f "$DATA_DIR/meta.properties" ]] && return 0
  local cluster_id
  cluster_id=$(storage_tool random-uuid 2>/dev/null | tail -n1)
  [[ -n "$cluster_id" ]] || { log "could not generate a cluster id"; exit 1; }
  log "formatting $DATA_DIR (cluster id $cluster_id)"
  local scram=()
  if [[ -n "$SASL_PORT" ]]; then
    [[ -n "${KAFKA_SCRAM_USER:-}" && -r "${KAFKA_SCRAM_PASSWORD_FILE:-}" ]] \
      || { log "KAFKA_SASL_PORT needs KAFKA_SCRAM_USER and KAFKA_SCRAM_PASSWORD_FILE"; exit 1; }
    scram=(--add-scram "SCRAM-SHA-512=[name=$KAFKA_SCRAM_USER,password=$(cat "$KAFKA_SCRAM_PASSWORD_FILE")]")
  fi
  storage_tool format -t "$cluster_id" -c "$CONFIG" --ignore-formatted "${scram[@]}" \
    >>"$LOG_DIR/storage-format.log" 2>&1 || {
      log "storage format failed:"; tail -n 30 "$LOG_DIR/storage-format.log" >&2; exit 1; }
}

fail_start() {
  # first stop any half-started JVM, so the next start begins from a clean slate; then show why
  cmd_stop >/dev/null 2>&1 || true
  rm -f "$PID_FILE"
  log "$1"
  for f in "$LOG_DIR/kafka.out" "$LOG_DIR/server.log"; do
    if [[ -f "$f" ]]; then
      echo "---- last lines of $f" >&2
      tail -n 40 "$f" >&2
    fi
  done
  exit 1
}

# Ready = the broker answers a Kafka ApiVersions request. An open port is not enough: the listener
# socket is bound (and queues connections) before request processing is enabled.
broker_answers() {
  local reply
  # ApiVersions v0 (kept by every Kafka version): size 18, api_key 18, version 0, correlation id 7,
  # client id "kafka.sh"; the reply starts with size, correlation id 7 and error code 0
  reply=$(timeout 3 bash -c "exec 3<>/dev/tcp/$HOST/$PORT
    printf '\x00\x00\x00\x12\x00\x12\x00\x00\x00\x00\x00\x07\x00\x08kafka.sh' >&3
    head -c 10 <&3 | od -An -tx1" 2>/dev/null | tr -d ' \n') || return 1
  [[ "${reply:8:12}" == "000000070000" ]]
}

wait_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    kill -0 "$pid" 2>/dev/null || fail_start "broker process $pid exited during startup"
    broker_answers && return 0
    sleep 0.5
  done
  fail_start "broker not ready on $HOST:$PORT after ${START_TIMEOUT}s"
}

cmd_start() {
  local pid
  pid=$(broker_pid)
  if [[ -n "$pid" ]]; then
    if broker_answers; then
      log "already running (pid $pid) on $HOST:$PORT"
      return 0
    fi
    # alive but not answering yet: still starting (or stuck); wait for it rather than launch a twin
    log "broker pid $pid is starting; waiting"
    wait_ready "$pid"
    return 0
  fi
  if port_open; then
    log "$HOST:$PORT is taken by a process this script did not start; not starting a second broker"
    exit 1
  fi
  rm -f "$PID_FILE"
  cmd_fetch
  render_config
  format_storage

  local t0=$SECONDS
  local cmd
  java_cmd cmd "$MAIN_CLASS" "$CONFIG"
  # setsid + nohup exec in place (no fork), so $! is the JVM; the broker outlives the calling shell
  # (9>&-: the JVM must not inherit, and so hold forever, the lock)
  setsid nohup "${cmd[@]}" </dev/null >"$LOG_DIR/kafka.out" 2>&1 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
  log "Kafka $KAFKA_VERSION up on $HOST:$PORT (pid $pid, ready in $((SECONDS - t0))s)"
}

cmd_stop() {
  local pid
  pid=$(broker_pid)
  if [[ -z "$pid" ]]; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    log "pid $pid ignored SIGTERM for 30s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  fi
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  pid=$(broker_pid)
  if [[ -n "$pid" ]] && broker_answers; then
    echo "up: Kafka $KAFKA_VERSION pid $pid on $HOST:$PORT"
    return 0
  fi
  echo "down"
  return 1
}

cmd_reset() {
  cmd_stop
  rm -rf "$DATA_DIR"
  log "deleted ${DATA_DIR#"$REPO_ROOT"/}"
}

# one start/stop/reset/fetch at a time (parallel test sessions may all call start)
take_lock() {
  mkdir -p "$STATE_DIR"
  exec 9>"$STATE_DIR/.lock"
  flock -w 120 9 || { log "another kafka.sh holds $STATE_DIR/.lock"; exit 1; }
}

case "${1:-}" in
  fetch) take_lock; cmd_fetch ;;
  start) take_lock; cmd_start ;;
  stop) take_lock; cmd_stop ;;
  status) cmd_status ;;
  reset) take_lock; cmd_reset ;;
  *) echo "usage: $0 {start|stop|status|reset|fetch}" >&2; exit 2 ;;
esac
