#!/usr/bin/env bash
# Local S3: moto's server (from PyPI, in the project's uv environment) on 127.0.0.1:${S3_PORT:-9000}.
#
#   bash infra/s3/s3.sh start|stop|status
#
# State (pid, log) lives under <repo>/.local/s3/. moto keeps objects in memory: a restart empties it.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
HOST=127.0.0.1
PORT=${S3_PORT:-9000}
STATE_DIR="$REPO_ROOT/.local/s3"
PID_FILE="$STATE_DIR/moto.pid"
LOG_FILE="$STATE_DIR/moto.log"

log() { echo "s3.sh: $*" >&2; }
port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null; }
server_pid() {
  [[ -f "$PID_FILE" ]] || return 0
  local pid; pid=$(cat "$PID_FILE")
  if kill -0 "$pid" 2>/dev/null && grep -q moto_server "/proc/$pid/cmdline" 2>/dev/null; then echo "$pid"; fi
}

cmd_start() {
  if [[ -n "$(server_pid)" ]] && port_open; then return 0; fi
  if port_open; then log "port $PORT is taken by another process"; exit 1; fi
  mkdir -p "$STATE_DIR"
  cd "$REPO_ROOT"
  setsid uv run --frozen moto_server -H "$HOST" -p "$PORT" >"$LOG_FILE" 2>&1 < /dev/null &
  echo $! >"$PID_FILE"
  for _ in $(seq 1 100); do
    if port_open; then log "moto S3 listening on http://$HOST:$PORT"; return 0; fi
    sleep 0.2
  done
  log "moto did not start; last log lines:"; tail -n 20 "$LOG_FILE" >&2; exit 1
}

cmd_stop() {
  local pid; pid=$(server_pid)
  [[ -n "$pid" ]] || { rm -f "$PID_FILE"; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) [[ -n "$(server_pid)" ]] && port_open ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
