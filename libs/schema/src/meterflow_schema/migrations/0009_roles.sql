-- Least privilege (docs/security.md "Roles and grants"): two NOLOGIN group roles that the services' login
-- users are members of; the migrations keep running as the owner, who alone may change the schema.
-- - meterflow_reader (the query API): reads the data and the tables that resolve credentials and
--   ownership, and stamps api_keys.last_used_at; nothing else.
-- - meterflow_ingest (the writer): writes readings and their upkeep (dirty buckets, the plain-PostgreSQL
--   hourly rollup its triggers maintain, channels) and the source's tenant binding (tenants and
--   meter_tenants, insert only); no DDL, no DELETE of readings, no access to api_keys or audit_log.
-- Roles are cluster-wide while grants are per database, and many databases of one cluster run this file
-- (tests, several installations): the roles are created only when missing, tolerating a concurrent creator.
-- An owner without CREATEROLE (a managed service) needs them created first by an administrator
-- (infra/timescale/roles.sql, which also creates the login users); the error says so.
-- Explicit grants on each table: ALTER DEFAULT PRIVILEGES would only cover tables created later.
-- Tables of later migrations grant their own privileges.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['meterflow_reader', 'meterflow_ingest'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE', role_name);
            EXCEPTION
                WHEN duplicate_object OR unique_violation THEN
                    NULL;  -- another database's migration created it between our check and our CREATE
                WHEN insufficient_privilege THEN
                    RAISE EXCEPTION 'role % does not exist and % may not create roles', role_name, current_user
                        USING HINT = 'have an administrator run infra/timescale/roles.sql (docs/security.md)';
            END;
        END IF;
    END LOOP;
END
$$;

-- PostgreSQL 15 no longer lets PUBLIC create in schema public; older servers do, which would let both
-- roles create tables. The owner of the schema may not be us (a managed service): then leave it be.
DO $$
BEGIN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'cannot revoke CREATE on schema public from PUBLIC (not its owner); check it by hand';
END
$$;

GRANT USAGE ON SCHEMA public TO meterflow_reader, meterflow_ingest;

-- PUBLIC may connect and create temporary tables by default; a hardened server revokes that, and the
-- writer's staging table is a temporary table. Only the database's owner may grant it; the TimescaleDB
-- conformance server (PGlite, single-user) fails such grants with an internal error, and needs none.
DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO meterflow_reader, meterflow_ingest', current_database());
    EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO meterflow_ingest', current_database());
EXCEPTION WHEN insufficient_privilege OR internal_error THEN
    RAISE NOTICE 'could not grant on database % (%): grant CONNECT (both roles) and TEMPORARY (meterflow_ingest) by hand',
        current_database(), SQLERRM;
END
$$;

-- The query API.
GRANT SELECT ON readings, readings_hourly, readings_daily, channels TO meterflow_reader;
GRANT SELECT ON tenants, meter_tenants, api_keys TO meterflow_reader;
GRANT UPDATE (last_used_at) ON api_keys TO meterflow_reader;

-- The writer. SELECT where INSERT ... ON CONFLICT DO UPDATE reads the existing row.
GRANT SELECT, INSERT, UPDATE ON readings, channels TO meterflow_ingest;
GRANT SELECT, INSERT, UPDATE, DELETE ON readings_dirty_buckets TO meterflow_ingest;
GRANT SELECT, INSERT ON tenants, meter_tenants TO meterflow_ingest;

-- Plain PostgreSQL: readings_hourly is a table that the triggers on readings keep current, running as
-- whoever writes readings (TimescaleDB: a continuous aggregate that its refresh maintains; the writer
-- refreshes only aggregates its role owns, see docs/security.md).
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_class WHERE relname = 'readings_hourly' AND relkind = 'r'
               AND relnamespace = 'public'::regnamespace) THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON readings_hourly TO meterflow_ingest;
    END IF;
END
$$;
