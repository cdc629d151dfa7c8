"""Least privilege on real PostgreSQL (migration 0009, infra/timescale/roles.sql): the API's login may only
read (and stamp api_keys.last_used_at), the writer's may only write readings and their upkeep, and neither
may change the schema, create databases or read what is not theirs. (That the pipeline works under these
logins is proved by every pipeline test: the harness runs the writer and the API as them.)"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from meterflow_harness.roles import API, WRITER, ServiceLogin, as_login

pytestmark = pytest.mark.integration

DENIED = (asyncpg.InsufficientPrivilegeError,)
MUID = "0b3c1f6e-5d1a-4c53-9d51-7f3f7c9a0001"


@pytest.fixture
async def owner(database: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database)
    await conn.execute("INSERT INTO tenants (name) VALUES ('acme')")
    await conn.execute(
        "INSERT INTO api_keys (prefix, key_hash, name, tenant, scopes)"
        " VALUES ('mf_abc', '\\x00', 'k', 'acme', '{read}')"
    )
    await conn.execute("INSERT INTO audit_log (actor, action, subject) VALUES ('test', 'key.create', 'mf_abc')")
    yield conn
    await conn.close()


async def connect_as(database: str, login: ServiceLogin) -> asyncpg.Connection:
    return await asyncpg.connect(as_login(database, login))


async def assert_denied(conn: asyncpg.Connection, statement: str, *args: object) -> None:
    with pytest.raises(DENIED):
        await conn.execute(statement, *args)


INSERT_READING = (
    "INSERT INTO readings (muid, obis, ts, value, quality) VALUES ($1, '1-0:1.29.0*255', '2023-02-01T00:00Z', 1, 'm')"
)


async def test_the_api_login_only_reads(database: str, owner: asyncpg.Connection) -> None:
    conn = await connect_as(database, API)
    try:
        for table in ("readings", "readings_hourly", "readings_daily", "channels", "tenants", "meter_tenants"):
            await conn.fetch(f"SELECT * FROM {table} LIMIT 1")
        assert await conn.fetchval("SELECT name FROM api_keys WHERE prefix = 'mf_abc'") == "k"
        await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE prefix = 'mf_abc'")

        await assert_denied(conn, INSERT_READING, MUID)
        await assert_denied(conn, "DELETE FROM readings")
        await assert_denied(conn, "UPDATE readings SET value = 0")
        await assert_denied(conn, "TRUNCATE readings")
        await assert_denied(conn, "INSERT INTO channels (muid, obis) VALUES ($1, 'x')", MUID)
        await assert_denied(conn, "INSERT INTO tenants (name) VALUES ('evil')")
        await assert_denied(
            conn, "INSERT INTO meter_tenants (muid, tenant, assigned_by) VALUES ($1, 'acme', 'x')", MUID
        )
        await assert_denied(conn, "UPDATE api_keys SET revoked_at = NULL, scopes = '{admin}'")
        await assert_denied(conn, "DELETE FROM api_keys")
        await assert_denied(conn, "SELECT * FROM audit_log")
        await assert_denied(conn, "CREATE TABLE stolen (x int)")
        await assert_denied(conn, "DROP TABLE readings")
        await assert_denied(conn, "CREATE DATABASE api_made_this")
    finally:
        await conn.close()


async def test_the_writer_login_writes_readings_and_nothing_else(database: str, owner: asyncpg.Connection) -> None:
    conn = await connect_as(database, WRITER)
    try:
        await conn.execute(INSERT_READING, MUID)
        await conn.execute("UPDATE readings SET value = 2 WHERE muid = $1", MUID)
        await conn.execute("INSERT INTO tenants (name) VALUES ('bound') ON CONFLICT DO NOTHING")
        await conn.execute(
            "INSERT INTO meter_tenants (muid, tenant, assigned_by) VALUES ($1, 'bound', 'source') "
            "ON CONFLICT DO NOTHING",
            MUID,
        )
        # The plain-PostgreSQL rollup followed, through the triggers running as the writer.
        assert await owner.fetchval("SELECT total FROM readings_hourly WHERE muid = $1", MUID) == 2

        await assert_denied(conn, "SELECT * FROM api_keys")
        await assert_denied(conn, "SELECT * FROM audit_log")
        await assert_denied(conn, "DELETE FROM readings")
        await assert_denied(conn, "DELETE FROM meter_tenants")
        await assert_denied(conn, "UPDATE meter_tenants SET tenant = 'bound'")
        await assert_denied(conn, "DELETE FROM tenants")
        await assert_denied(conn, "TRUNCATE readings")
        await assert_denied(conn, "CREATE TABLE stolen (x int)")
        await assert_denied(conn, "ALTER TABLE readings ADD COLUMN x int")
        await assert_denied(conn, "CREATE DATABASE writer_made_this")
        await assert_denied(conn, "CREATE ROLE writer_made_this")
    finally:
        await conn.close()


async def test_the_group_roles_cannot_log_in_and_hold_no_power(owner: asyncpg.Connection) -> None:
    roles = await owner.fetch(
        "SELECT rolname, rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = ANY($1)",
        ["meterflow_reader", "meterflow_ingest", API.user, WRITER.user],
    )
    by_name = {r["rolname"]: r for r in roles}
    assert set(by_name) == {"meterflow_reader", "meterflow_ingest", API.user, WRITER.user}
    for name, role in by_name.items():
        assert not (role["rolsuper"] or role["rolcreatedb"] or role["rolcreaterole"]), name
        assert role["rolcanlogin"] == (name in (API.user, WRITER.user)), name
