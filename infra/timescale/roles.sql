-- The services' database roles (docs/security.md, "Roles and grants"), created by an administrator
-- (a superuser or a role with CREATEROLE) once per cluster: infra/timescale/pg.sh on start, the compose
-- file's init script, or by hand: psql -v api_password=... -v writer_password=... -f roles.sql
-- Idempotent: re-running it resets the login users' passwords and memberships.
--   meterflow_reader, meterflow_ingest  NOLOGIN group roles; migration 0009 grants them their privileges
--                                       in each database (and creates them itself when it may)
--   meterflow_api    (login)            member of meterflow_reader: the query API
--   meterflow_writer (login)            member of meterflow_ingest: the writer
-- The migrations and the admin CLI (meterflow db migrate, meterflow meters erase) run as the owner.
\set ON_ERROR_STOP on
SELECT 'CREATE ROLE meterflow_reader NOLOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meterflow_reader') \gexec
SELECT 'CREATE ROLE meterflow_ingest NOLOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meterflow_ingest') \gexec
SELECT 'CREATE ROLE meterflow_api LOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meterflow_api') \gexec
SELECT 'CREATE ROLE meterflow_writer LOGIN'
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'meterflow_writer') \gexec
SELECT format('ALTER ROLE meterflow_api LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'api_password') \gexec
SELECT format('ALTER ROLE meterflow_writer LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %L', :'writer_password') \gexec
GRANT meterflow_reader TO meterflow_api;
GRANT meterflow_ingest TO meterflow_writer;
