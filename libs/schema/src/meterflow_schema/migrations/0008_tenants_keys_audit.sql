-- Tenants, meter ownership, API keys and the audit trail (docs/security.md).
-- A tenant is one utility served by this installation; it owns meters, and every query of a credential
-- bound to it sees only those. A meter belongs to at most one tenant (muid is the key of meter_tenants).
-- Plain tables on TimescaleDB and on PostgreSQL alike.
CREATE TABLE IF NOT EXISTS tenants (
    -- A slug: it appears in CLI commands, JWT claims and metrics labels.
    name       text        PRIMARY KEY CONSTRAINT tenants_name_slug CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS meter_tenants (
    muid        uuid        PRIMARY KEY,
    tenant      text        NOT NULL REFERENCES tenants (name) ON UPDATE CASCADE ON DELETE CASCADE,
    -- Who assigned it: 'cli', 'config' or the source binding that brought its first reading.
    assigned_by text        NOT NULL,
    assigned_at timestamptz NOT NULL DEFAULT now()
);
-- Serves "the caller's meters in muid order" (keyset pagination of /v1/meters).
CREATE INDEX IF NOT EXISTS meter_tenants_by_tenant ON meter_tenants (tenant, muid);

CREATE TABLE IF NOT EXISTS api_keys (
    -- The visible start of the key (shown in listings and logs, used to revoke); unique on its own.
    prefix       text        PRIMARY KEY,
    -- SHA-256 of the whole key: keys are high-entropy random strings, so a fast hash is the right one
    -- (no password stretching needed) and the lookup stays one indexed read.
    key_hash     bytea       NOT NULL UNIQUE,
    name         text        NOT NULL,
    tenant       text        NOT NULL REFERENCES tenants (name) ON UPDATE CASCADE ON DELETE CASCADE,
    scopes       text[]      NOT NULL CONSTRAINT api_keys_scopes_known CHECK (scopes <@ ARRAY['read', 'admin']::text[]),
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant, name);

-- Who did what to which subject, when: erasures, key creation and revocation, assignments.
CREATE TABLE IF NOT EXISTS audit_log (
    id      bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text        NOT NULL,  -- the operating-system user of the CLI, or the key prefix / JWT subject
    action  text        NOT NULL,  -- e.g. 'meter.erase', 'key.create', 'key.revoke', 'tenant.assign'
    subject text        NOT NULL,  -- e.g. the muid, the key prefix, the tenant
    detail  jsonb       NOT NULL DEFAULT '{}'::jsonb
);
