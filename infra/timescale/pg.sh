#!/usr/bin/env bash
# Local PostgreSQL for Meterflow: a cluster of the project's own in <repo>/.local/pg, no Docker.
#
#   infra/timescale/pg.sh start     install PostgreSQL (Debian) if missing, create the cluster once, start it,
#                                   ensure the app role + database exist, wait until it answers
#   infra/timescale/pg.sh stop      fast shutdown
#   infra/timescale/pg.sh restart   pg_ctl restart -m fast (reliability tests restart it under load)
#   infra/timescale/pg.sh status    running or not, and where
#   infra/timescale/pg.sh reset     stop and delete the data folder
#   infra/timescale/pg.sh migrate   apply the schema migrations (meterflow_schema) to $DATABASE_URL
#   infra/timescale/pg.sh psql      superuser psql over the unix socket
#   infra/timescale/pg.sh roles     ensure the app role and the services' roles (roles.sql) on a running
#                                   cluster (start does it too)
#
# Environment (all optional): PGPORT (5432), PGUSER/PGPASSWORD/PGDATABASE (meterflow x3: the app role,
# it gets CREATEDB because tests create one database each, and CREATEROLE because a test creates a login of
# its own; a production owner needs neither, docs/security.md), MF_API_DB_PASSWORD / MF_WRITER_DB_PASSWORD
# (meterflow-api / meterflow-writer: the login users of the API and the writer, as in infra/local.env),
# MF_PG_DIR (<repo>/.local/pg),
# DATABASE_URL (for migrate).
# PostgreSQL refuses to run as root: as root every server command runs as the `postgres` OS user.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PG_DIR="${MF_PG_DIR:-$REPO/.local/pg}"
# As root the server runs as the postgres user, who must reach the folder. A checkout inside a private
# home (e.g. /root) is out of its reach: keep that checkout's cluster under /var/tmp instead.
if [[ -z "${MF_PG_DIR:-}" && $(id -u) -eq 0 ]] && id postgres >/dev/null 2>&1 \
  && ! runuser -u postgres -- test -x "$REPO"; then
  PG_DIR="/var/tmp/meterflow-pg-$(printf %s "$REPO" | sha1sum | cut -c1-12)"
fi
DATA="$PG_DIR/data"
RUN="$PG_DIR/run"
LOGS="$PG_DIR/logs"
LOG="$LOGS/postgres.log"
PORT="${PGPORT:-5432}"
HOST=127.0.0.1
APP_USER="${PGUSER:-meterflow}"
APP_PASSWORD="${PGPASSWORD:-meterflow}"
APP_DB="${PGDATABASE:-meterflow}"
API_DB_PASSWORD="${MF_API_DB_PASSWORD:-meterflow-api}"
WRITER_DB_PASSWORD="${MF_WRITER_DB_PASSWORD:-meterflow-writer}"
# libpq reads these too; the superuser commands below must not inherit the app's values.
unset PGUSER PGPASSWORD PGDATABASE PGHOST PGPORT PGSERVICE

log() { printf '[pg.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

find_bin() {
  local d
  # Highest installed major version first.
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5 -V -r); do
    if [[ -x "$d/initdb" ]]; then echo "$d"; return 0; fi
  done
  return 1
}

install_postgres() {
  [[ $(id -u) -eq 0 ]] || die "PostgreSQL is not installed and we are not root: apt-get install postgresql"
  log "installing PostgreSQL from Debian's packages"
  # We run our own cluster: keep Debian from creating (and starting) its main cluster on our port.
  mkdir -p /etc/postgresql-common
  if [[ ! -f /etc/postgresql-common/createcluster.conf ]]; then
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.conf
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold postgresql
}

BIN="$(find_bin || true)"
ensure_bin() {
  if [[ -z "$BIN" ]]; then
    install_postgres
    BIN="$(find_bin)" || die "initdb still missing after apt-get install postgresql"
  fi
}

# Run a server-side command as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

is_running() {
  [[ -n "$BIN" && -f "$DATA/PG_VERSION" ]] || return 1
  as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

superuser_psql() {
  as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PORT" -U postgres -d postgres "$@"
}

write_config() {
  # Rewritten on every start so a change here takes effect; postgresql.conf only includes it.
  cat >"$DATA/meterflow.conf" <<EOF
# Managed by infra/timescale/pg.sh: rewritten on every start. Sized for a 2-core, 24 GiB dev/CI box
# that shares the machine with Kafka and the services, and bulk-loads with COPY.
listen_addresses = '$HOST'
port = $PORT
unix_socket_directories = '$RUN'
max_connections = 200
shared_buffers = 1GB
effective_cache_size = 8GB
work_mem = 16MB
maintenance_work_mem = 512MB
# Durability is not traded for speed: commits wait for the WAL flush.
fsync = on
synchronous_commit = on
full_page_writes = on
wal_level = replica
wal_buffers = 64MB
wal_compression = lz4
min_wal_size = 1GB
max_wal_size = 8GB
checkpoint_timeout = 15min
checkpoint_completion_target = 0.9
random_page_cost = 1.1
effective_io_concurrency = 200
max_worker_processes = 8
max_parallel_workers = 2
max_parallel_workers_per_gather = 1
max_parallel_maintenance_workers = 1
autovacuum_max_workers = 2
autovacuum_vacuum_cost_limit = 1000
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
log_checkpoints = on
log_min_duration_statement = 2000
log_lock_waits = on
log_temp_files = 64MB
EOF
  if ! grep -q "^include_if_exists = 'meterflow.conf'" "$DATA/postgresql.conf"; then
    printf "\ninclude_if_exists = 'meterflow.conf'\n" >>"$DATA/postgresql.conf"
  fi
}

prepare_dirs() {
  mkdir -p "$PG_DIR" "$RUN" "$LOGS"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres:postgres "$PG_DIR"
    runuser -u postgres -- test -x "$PG_DIR" \
      || die "user postgres cannot reach $PG_DIR (a parent folder is not searchable); set MF_PG_DIR"
  fi
}

init_cluster() {
  [[ -f "$DATA/PG_VERSION" ]] && return 0
  log "creating cluster in $DATA"
  mkdir -p "$DATA"
  chmod 700 "$DATA"
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$DATA"; fi
  as_owner "$BIN/initdb" -D "$DATA" -U postgres -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >"$LOGS/initdb.log" 2>&1 \
    || { cat "$LOGS/initdb.log" >&2; die "initdb failed"; }
}

ensure_role_and_db() {
  superuser_psql -v user="$APP_USER" -v pw="$APP_PASSWORD" -v db="$APP_DB" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'user', :'pw')
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB CREATEROLE PASSWORD %L', :'user', :'pw') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
}

ensure_service_roles() {
  # As the postgres OS user, psql cannot read a file in a private checkout: feed it on stdin.
  superuser_psql -v api_password="$API_DB_PASSWORD" -v writer_password="$WRITER_DB_PASSWORD" \
    <"$REPO/infra/timescale/roles.sql"
}

wait_ready() {
  local _
  for _ in $(seq 1 120); do
    if "$BIN/pg_isready" -q -h "$HOST" -p "$PORT"; then return 0; fi
    sleep 0.5
  done
  tail -n 50 "$LOG" >&2 || true
  die "PostgreSQL did not answer on $HOST:$PORT"
}

cmd_start() {
  ensure_bin
  prepare_dirs
  init_cluster
  if is_running; then
    log "already running on $HOST:$PORT ($DATA)"
    # A cluster from before the services' roles gets them now (both steps are idempotent).
    ensure_role_and_db
    ensure_service_roles
    return 0
  fi
  if "$BIN/pg_isready" -q -h "$HOST" -p "$PORT"; then
    die "something else already answers on $HOST:$PORT (another PostgreSQL?); stop it or set PGPORT"
  fi
  write_config
  if [[ $(id -u) -eq 0 ]]; then chown postgres:postgres "$DATA/meterflow.conf"; fi
  log "starting PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on $HOST:$PORT"
  as_owner "$BIN/pg_ctl" start -D "$DATA" -l "$LOG" -w -t 120 >/dev/null \
    || { tail -n 50 "$LOG" >&2 || true; die "pg_ctl start failed (log: $LOG)"; }
  wait_ready
  ensure_role_and_db
  ensure_service_roles
  log "ready: postgresql://$APP_USER:***@$HOST:$PORT/$APP_DB"
}

cmd_stop() {
  if ! is_running; then
    log "not running"
    return 0
  fi
  as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 120 >/dev/null
  log "stopped"
}

cmd_restart() {
  ensure_bin
  if ! is_running; then
    cmd_start
    return 0
  fi
  as_owner "$BIN/pg_ctl" restart -D "$DATA" -m fast -w -t 120 -l "$LOG" >/dev/null
  wait_ready
  log "restarted"
}

cmd_status() {
  if is_running; then
    log "running on $HOST:$PORT, socket $RUN, data $DATA, log $LOG"
    return 0
  fi
  log "not running (data $DATA)"
  return 3
}

cmd_reset() {
  cmd_stop
  rm -rf "$DATA"
  log "removed $DATA"
}

cmd_migrate() {
  export DATABASE_URL="${DATABASE_URL:-postgresql://$APP_USER:$APP_PASSWORD@$HOST:$PORT/$APP_DB}"
  cd "$REPO"
  uv run --frozen meterflow db migrate
}

cmd_roles() {
  ensure_bin
  is_running || die "not running (data $DATA)"
  ensure_role_and_db
  ensure_service_roles
  log "roles meterflow_reader, meterflow_ingest, meterflow_api, meterflow_writer ready"
}

cmd_psql() {
  ensure_bin
  superuser_psql "$@"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_restart ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  migrate) cmd_migrate ;;
  psql) shift; cmd_psql "$@" ;;
  roles) cmd_roles ;;
  *) echo "usage: $0 start|stop|restart|status|reset|migrate|psql|roles" >&2; exit 2 ;;
esac
