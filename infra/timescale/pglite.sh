#!/usr/bin/env bash
# TimescaleDB conformance server (PGlite + TimescaleDB 2.23 over the PostgreSQL wire), no Docker.
#
#   infra/timescale/pglite.sh start    npm ci if needed, start server.mjs in the background, wait for the port
#   infra/timescale/pglite.sh stop     stop it (SIGTERM, then SIGKILL after 10 s)
#   infra/timescale/pglite.sh status
#
# Env: PGLITE_PORT (5433), PGLITE_HOST (127.0.0.1), PGLITE_STATE_DIR (<repo>/.local/pglite: pid file + log;
# the test session uses one of its own, so it never touches a server a developer left running).
# DSN for clients: postgresql://postgres@127.0.0.1:5433/postgres (any user/password/db is accepted).
# One client connection at a time; COPY FROM STDIN is played by the server itself: see docs/storage.md.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
APP="$REPO/infra/timescale/pglite"
STATE="${PGLITE_STATE_DIR:-$REPO/.local/pglite}"
PIDFILE="$STATE/server.pid"
LOG="$STATE/server.log"
export PGLITE_PORT="${PGLITE_PORT:-5433}"
export PGLITE_HOST="${PGLITE_HOST:-127.0.0.1}"

log() { printf '[pglite.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

pid_alive() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid
  pid="$(cat "$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

port_open() {
  # bash's /dev/tcp: no client tool needed. A TCP accept is enough: the server only listens once ready.
  (exec 3<>"/dev/tcp/$PGLITE_HOST/$PGLITE_PORT") 2>/dev/null
}

ensure_deps() {
  command -v node >/dev/null || die "node is not installed (apt-get install nodejs npm)"
  command -v npm >/dev/null || die "npm is not installed (apt-get install npm)"
  # Reinstall when the lock file is newer than the install (npm ci writes node_modules/.package-lock.json).
  if [[ ! -f "$APP/node_modules/.package-lock.json" || "$APP/package-lock.json" -nt "$APP/node_modules/.package-lock.json" ]]; then
    log "npm ci in $APP"
    (cd "$APP" && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
}

cmd_start() {
  if pid_alive; then
    log "already running (pid $(cat "$PIDFILE")) on $PGLITE_HOST:$PGLITE_PORT"
    return 0
  fi
  if port_open; then
    die "something else listens on $PGLITE_HOST:$PGLITE_PORT; stop it or set PGLITE_PORT"
  fi
  ensure_deps
  mkdir -p "$STATE"
  local started=$SECONDS
  # setsid: own process group, so the caller's Ctrl-C or job control does not take it down.
  setsid node "$APP/server.mjs" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local pid
  pid="$(cat "$PIDFILE")"
  # Loading the WASM engine and unpacking TimescaleDB takes ~10 s on a 2-core box.
  for _ in $(seq 1 240); do
    if port_open; then
      log "ready on $PGLITE_HOST:$PGLITE_PORT (pid $pid, $((SECONDS - started)) s, log $LOG)"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$LOG" >&2 || true
      rm -f "$PIDFILE"
      die "server exited during start (log: $LOG)"
    fi
    sleep 0.5
  done
  tail -n 30 "$LOG" >&2 || true
  die "server did not open $PGLITE_HOST:$PGLITE_PORT within 120 s (log: $LOG)"
}

cmd_stop() {
  if ! pid_alive; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  local pid
  pid="$(cat "$PIDFILE")"
  kill -TERM "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "still alive after 10 s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  log "stopped"
}

cmd_status() {
  if pid_alive; then
    log "running (pid $(cat "$PIDFILE")) on $PGLITE_HOST:$PGLITE_PORT, log $LOG"
    return 0
  fi
  log "not running"
  return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
