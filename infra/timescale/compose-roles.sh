#!/bin/sh
# docker-compose.yml mounts this into /docker-entrypoint-initdb.d: on the first start of an empty data
# volume, the image runs it as POSTGRES_USER (a superuser there) to create the services' roles and logins
# (roles.sql; the passwords from the environment). Migration 0009 then grants the group roles their rights.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v api_password="${METERFLOW_API_DB_PASSWORD:-meterflow-api}" \
  -v writer_password="${METERFLOW_WRITER_DB_PASSWORD:-meterflow-writer}" \
  -f /meterflow/roles.sql
