#!/usr/bin/env bash
# The whole Meterflow stack, natively: Kafka, PostgreSQL, S3 (moto) and the four services.
#
#   bash infra/stack.sh run     # up + follow the logs; Ctrl-C stops everything (make run)
#   bash infra/stack.sh up      # set up what is missing, start everything, load demo data (make up)
#   bash infra/stack.sh down    # stop services and servers (make down)
#   bash infra/stack.sh status
#
# PROMETHEUS=1 also starts a native Prometheus (Debian's binary: make prometheus-tools) on PROMETHEUS_PORT
# (9090) that scrapes the four services and loads infra/prometheus/alerts.yml: the alerts page and graphs.
#
# Demo data: DEMO_METERS (20) households x DEMO_DAYS (28) days, uploaded once to the bucket. Tenant "demo"
# owns the demo meters; its API key is kept in .local/run/demo-api-key (mode 600, only this checkout's user
# can read it) and reused while the API accepts it; the probe sends it from a header file, never in argv.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/.." && pwd)
RUN_DIR="$REPO_ROOT/.local/run"
LOG_DIR="$REPO_ROOT/.local/logs"
SERVICES=(poller normalizer writer api)
API_URL="http://127.0.0.1:${API_PORT:-8000}"

set -a
# shellcheck source=infra/local.env
source "$SCRIPT_DIR/local.env"
set +a
export POLLER_INTERVAL_S=${POLLER_INTERVAL_S:-60}
export POLLER_JITTER_S=${POLLER_JITTER_S:-5}

log() { echo "stack: $*" >&2; }
cd "$REPO_ROOT"

service_pid() {
  local f="$RUN_DIR/$1.pid"
  [[ -f "$f" ]] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

start_service() {
  local name=$1
  if [[ -n "$(service_pid "$name")" ]]; then return 0; fi
  mkdir -p "$RUN_DIR" "$LOG_DIR"
  # Started from the script's own shell (not a subshell, which would linger as the service's parent).
  setsid .venv/bin/meterflow-"$name" >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/$name.pid"
  log "started $name (log: .local/logs/$name.log)"
}

stop_service() {
  local name=$1 pid
  pid=$(service_pid "$name")
  [[ -n "$pid" ]] || { rm -f "$RUN_DIR/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN_DIR/$name.pid"
  log "stopped $name"
}

demo_tenant() {
  # The demo meters are known before their data arrives: demo-data draws them from its default seed (42).
  local muids
  muids=$(.venv/bin/python -c "from meterflow_cli.demo import households; print(' '.join(str(h.muid) for h in households(${DEMO_METERS:-20}, 42)))")
  .venv/bin/meterflow tenants create demo >/dev/null
  # shellcheck disable=SC2086  # one argument per muid
  .venv/bin/meterflow tenants assign demo $muids >/dev/null
  demo_site
}

demo_site() {
  # A household with PV as site "demo-home" (its meter has an import and an export channel): the dashboard's
  # balance and cost views and /v1/sites have something to show. Created once.
  local pv
  pv=$(.venv/bin/python -c "from meterflow_cli.demo import households; print(next(str(h.muid) for h in households(${DEMO_METERS:-20}, 42) if h.has_pv))")
  if ! .venv/bin/meterflow sites list 2>/dev/null | grep -q '"site": "demo-home"'; then
    .venv/bin/meterflow sites create demo-home --tenant demo --import "$pv" --export "$pv" >/dev/null
  fi
}

demo_key() {
  local key_file="$RUN_DIR/demo-api-key" header_file="$RUN_DIR/demo-auth.header"
  if [[ -s "$header_file" ]] && curl -fsS -o /dev/null -H @"$header_file" "$API_URL/v1/meters?limit=1" 2>/dev/null; then
    return 0
  fi
  mkdir -p "$RUN_DIR"
  (umask 077
   .venv/bin/meterflow keys create demo --label "demo (make run)" | tail -n 1 >"$key_file"
   printf 'X-API-Key: %s\n' "$(cat "$key_file")" >"$header_file")
  log "created the demo API key (.local/run/demo-api-key)"
}

prometheus_pid() {
  local f="$RUN_DIR/prometheus.pid"
  [[ -f "$f" ]] || return 0
  local pid; pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then echo "$pid"; fi
}

start_prometheus() {
  [[ -n "$(prometheus_pid)" ]] && return 0
  command -v prometheus >/dev/null || { log "prometheus is not installed: make prometheus-tools"; exit 1; }
  local dir="$REPO_ROOT/.local/prometheus"
  mkdir -p "$dir/data" "$RUN_DIR" "$LOG_DIR"
  cat >"$dir/prometheus.yml" <<EOC
# Written by infra/stack.sh (PROMETHEUS=1): the native stack's services on 127.0.0.1.
global: {scrape_interval: 15s, evaluation_interval: 15s}
rule_files: [$REPO_ROOT/infra/prometheus/alerts.yml]
scrape_configs:
  - {job_name: meterflow-poller, static_configs: [{targets: ["127.0.0.1:${POLLER_OPS_PORT:-9101}"]}]}
  - {job_name: meterflow-normalizer, static_configs: [{targets: ["127.0.0.1:${NORMALIZER_OPS_PORT:-9102}"]}]}
  - {job_name: meterflow-writer, static_configs: [{targets: ["127.0.0.1:${WRITER_OPS_PORT:-9103}"]}]}
  - {job_name: meterflow-api, static_configs: [{targets: ["127.0.0.1:${API_PORT:-8000}"]}]}
EOC
  setsid prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:${PROMETHEUS_PORT:-9090}" >>"$LOG_DIR/prometheus.log" 2>&1 </dev/null &
  echo $! >"$RUN_DIR/prometheus.pid"
  wait_for "http://127.0.0.1:${PROMETHEUS_PORT:-9090}/-/ready" 30 \
    || { log "Prometheus did not start; see .local/logs/prometheus.log"; exit 1; }
  log "started Prometheus (log: .local/logs/prometheus.log)"
}

stop_prometheus() {
  local pid; pid=$(prometheus_pid)
  [[ -n "$pid" ]] || { rm -f "$RUN_DIR/prometheus.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN_DIR/prometheus.pid"
  log "stopped Prometheus"
}

wait_for() { # url seconds
  local url=$1 seconds=$2
  for _ in $(seq 1 $((seconds * 2))); do
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  return 1
}

cmd_up() {
  command -v uv >/dev/null || { log "installing uv"; python3 -m pip install --quiet uv; }
  (cd "$REPO_ROOT" && uv sync --frozen --quiet)
  bash "$REPO_ROOT/infra/kafka/kafka.sh" start
  bash "$REPO_ROOT/infra/timescale/pg.sh" start
  bash "$REPO_ROOT/infra/s3/s3.sh" start
  (cd "$REPO_ROOT" && .venv/bin/meterflow db migrate && .venv/bin/meterflow topics create)
  demo_tenant
  if ! (cd "$REPO_ROOT" && .venv/bin/python -c "import boto3,sys; c=boto3.client('s3', endpoint_url='$S3_ENDPOINT_URL'); sys.exit(0 if c.list_objects_v2(Bucket='$POLLER_BUCKET').get('KeyCount') else 1)" 2>/dev/null); then
    (cd "$REPO_ROOT" && .venv/bin/meterflow demo-data --meters "${DEMO_METERS:-20}" --days "${DEMO_DAYS:-28}" --bucket "$POLLER_BUCKET")
  fi
  for name in "${SERVICES[@]}"; do start_service "$name"; done
  wait_for "$API_URL/readyz" 60 || { log "the API did not become ready; see .local/logs/api.log"; exit 1; }
  demo_key
  wait_for http://127.0.0.1:9101/healthz 60 || { log "the poller did not start; see .local/logs/poller.log"; exit 1; }
  curl -fsS -X POST -o /dev/null http://127.0.0.1:9101/poll
  log "waiting until the demo data is queryable"
  local meters=0
  for _ in $(seq 1 240); do
    meters=$(curl -fsS -H @"$RUN_DIR/demo-auth.header" "$API_URL/v1/meters" 2>/dev/null | grep -o '"muid"' | wc -l || true)
    if (( meters >= ${DEMO_METERS:-20} )); then break; fi
    sleep 0.5
  done
  (( meters >= ${DEMO_METERS:-20} )) || log "only $meters meters queryable so far; the pipeline is still loading"
  local key; key=$(cat "$RUN_DIR/demo-api-key")
  local prometheus_line=""
  if [[ "${PROMETHEUS:-0}" == 1 ]]; then
    start_prometheus
    prometheus_line="    Prometheus   http://127.0.0.1:${PROMETHEUS_PORT:-9090}/alerts  (rules: infra/prometheus/alerts.yml)"
  fi
  cat >&2 <<EOM

  Meterflow is running.
    API          $API_URL/v1/meters
    Dashboard    $API_URL/dashboard/#key=$key
    API docs     $API_URL/docs  (Authorize: paste the demo key)
    Demo key     $key
                 tenant "demo", read scope, site "demo-home"; kept in .local/run/demo-api-key
    Try          curl -H "Authorization: Bearer \$(cat .local/run/demo-api-key)" $API_URL/v1/meters
    Metrics      $API_URL/metrics  http://127.0.0.1:9101/metrics (poller)
                 http://127.0.0.1:9102/metrics (normalizer)  http://127.0.0.1:9103/metrics (writer)
    Poll now     curl -X POST http://127.0.0.1:9101/poll
    Logs         .local/logs/
$prometheus_line
EOM
}

cmd_down() {
  stop_prometheus
  for (( i=${#SERVICES[@]}-1; i>=0; i-- )); do stop_service "${SERVICES[$i]}"; done
  bash "$REPO_ROOT/infra/s3/s3.sh" stop
  bash "$REPO_ROOT/infra/timescale/pg.sh" stop
  bash "$REPO_ROOT/infra/kafka/kafka.sh" stop
}

cmd_run() {
  trap 'log "stopping"; cmd_down; exit 0' INT TERM
  cmd_up
  tail -n 0 -F "$LOG_DIR"/*.log &
  wait
}

cmd_status() {
  for name in "${SERVICES[@]}"; do
    if [[ -n "$(service_pid "$name")" ]]; then echo "$name: running"; else echo "$name: stopped"; fi
  done
  if [[ -n "$(prometheus_pid)" ]]; then echo "prometheus: running"; fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  run) cmd_run ;;
  status) cmd_status ;;
  *) echo "usage: $0 run|up|down|status" >&2; exit 2 ;;
esac
