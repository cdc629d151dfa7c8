"""Migration 0006 (channels) and meterflow_schema.refresh_channels against the real local PostgreSQL: the
table's shape, the backfill from readings stored before the migration, and the recomputation of chosen
channels. The same backfill on TimescaleDB: test_timescale.py.

Run: uv run pytest tests/conformance/test_channels_postgres.py -q   (fixtures: see conftest.py)
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from channel_truth import expected_channels, recomputed_channels, stored_channels
from meterflow_schema import load_migrations, migrate, migrate_connection, refresh_channels

pytestmark = pytest.mark.integration

COLUMNS = ["muid", "obis", "ts", "value", "quality"]
START = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)
METER_A, METER_B = uuid.UUID(int=0xA), uuid.UUID(int=0xB)


def series(muid: uuid.UUID, obis: str, minutes: list[int]) -> list[tuple[uuid.UUID, str, datetime, float, str]]:
    return [(muid, obis, START + timedelta(minutes=m), float(i), "measured") for i, m in enumerate(minutes)]


def mixed_rows() -> list[tuple[uuid.UUID, str, datetime, float, str]]:
    """Channels of every kind the backfill must get right."""
    return [
        # 15-minute energy with a hole: the usual step stays 900 s.
        *series(METER_A, "1-0:1.29.0*255", [0, 15, 30, 45, 60, 120, 135, 150]),
        # One reading: no interval.
        *series(METER_A, "1-0:2.29.0*255", [30]),
        # Power with as many 5- as 15-minute steps: the shorter wins the tie.
        *series(METER_B, "1-0:1.7.0*255", [0, 5, 10, 25, 40]),
        # Outside the catalogue, and not an OBIS code at all.
        *series(METER_B, "1-0:32.7.0*255", [0, 60]),
        *series(METER_B, "not-an-obis-code", [0, 1440]),
    ]


async def test_channels_table_shape(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        columns = await conn.fetch(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = 'channels' ORDER BY ordinal_position"
        )
        assert [tuple(c.values()) for c in columns] == [
            ("muid", "uuid", "NO"),
            ("obis", "text", "NO"),
            ("quantity", "text", "NO"),
            ("direction", "text", "YES"),
            ("unit", "text", "YES"),
            ("measurement", "text", "NO"),
            ("interval_s", "integer", "YES"),
            ("first_ts", "timestamp with time zone", "NO"),
            ("last_ts", "timestamp with time zone", "NO"),
            ("readings", "bigint", "NO"),
            ("updated_at", "timestamp with time zone", "NO"),
        ]
        pk = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'channels'::regclass AND contype = 'p'"
        )
        assert pk == "PRIMARY KEY (muid, obis)"
    finally:
        await conn.close()


async def test_backfill_from_readings_stored_before_the_migration(pg_dsn: str) -> None:
    rows = mixed_rows()
    conn = await asyncpg.connect(pg_dsn)
    try:
        before = [m for m in load_migrations() if m.version < "0006"]
        await migrate_connection(conn, before)
        await conn.copy_records_to_table("readings", records=rows, columns=COLUMNS)
        assert (await migrate_connection(conn, load_migrations()))[0] == "0006"

        stored = await stored_channels(conn)
        assert stored == expected_channels([(r[0], r[1], r[2]) for r in rows])
        assert [(c[1], c[2], c[3], c[4], c[5], c[6], c[9]) for c in stored] == [
            ("1-0:1.29.0*255", "active_energy", "import", "kWh", "energy", 900, 8),
            ("1-0:2.29.0*255", "active_energy", "export", "kWh", "energy", None, 1),
            ("1-0:1.7.0*255", "active_power", "import", "kW", "power", 300, 5),
            ("1-0:32.7.0*255", "voltage", None, "V", "voltage", 3600, 2),
            ("not-an-obis-code", "unknown", None, None, "unknown", 86400, 2),
        ]
    finally:
        await conn.close()


async def test_backfill_of_an_empty_readings_table_is_empty(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await stored_channels(conn) == []
    finally:
        await conn.close()


async def test_refresh_channels_recomputes_the_channels_asked_for(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = mixed_rows()
        await conn.copy_records_to_table("readings", records=rows, columns=COLUMNS)
        energy = (METER_A, "1-0:1.29.0*255")
        assert await refresh_channels(conn, [energy, energy]) == 1
        assert [c[:2] for c in await stored_channels(conn)] == [energy]

        assert await refresh_channels(conn) == 5
        assert await stored_channels(conn) == await recomputed_channels(conn)

        # Readings that go away take their channel along; new ones move first_ts and the count.
        await conn.execute("DELETE FROM readings WHERE muid = $1 AND obis = '1-0:2.29.0*255'", METER_A)
        early = series(METER_A, "1-0:1.29.0*255", [-15])
        await conn.copy_records_to_table("readings", records=early, columns=COLUMNS)
        assert await refresh_channels(conn, [energy, (METER_A, "1-0:2.29.0*255")]) == 1
        stored = await stored_channels(conn)
        assert stored == await recomputed_channels(conn)
        assert [c[1] for c in stored if c[0] == METER_A] == ["1-0:1.29.0*255"]
        assert stored[0][7:] == (START - timedelta(minutes=15), START + timedelta(minutes=150), 9)
    finally:
        await conn.close()


async def test_refresh_inside_a_transaction_of_the_caller(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("readings", records=mixed_rows(), columns=COLUMNS)
            await refresh_channels(conn, {(r[0], r[1]) for r in mixed_rows()})
        assert await stored_channels(conn) == await recomputed_channels(conn)
    finally:
        await conn.close()
