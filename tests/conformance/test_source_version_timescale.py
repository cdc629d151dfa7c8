"""Migration 0007 (the readings' source version) on TimescaleDB (PGlite build) over a hypertable whose chunks
are already compressed, as in production: the columns are added, and the writer's version-guarded upsert
works on the compressed chunk (a newer version replaces a row, an older one does not)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from meterflow_schema import load_migrations, migrate_connection
from meterflow_writer.db import _CREATE_STAGING, _UPSERT_MARKING
from pglite import pglite_server

pytestmark = pytest.mark.conformance

MUID = uuid.UUID("00000000-0000-4000-8000-00000000b001")
OBIS = "1-0:1.29.0*255"
DAY = datetime(2024, 3, 30, tzinfo=UTC)
OLD, NEW = datetime(2024, 4, 1, tzinfo=UTC), datetime(2024, 4, 2, tzinfo=UTC)


async def upsert(conn: asyncpg.Connection, value: float, modified: datetime | None, record: int | None) -> None:
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO readings_staging SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[],"
            " $4::float8[], $5::text[], $6::timestamptz[], $7::int[])",
            [MUID],
            [OBIS],
            [DAY + timedelta(hours=1)],
            [value],
            ["measured"],
            [modified],
            [record],
        )
        await conn.fetch(_UPSERT_MARKING)


async def stored(conn: asyncpg.Connection) -> tuple[float, datetime | None, int | None]:
    row = await conn.fetchrow(
        "SELECT value, source_modified, source_record FROM readings WHERE muid = $1 AND ts = $2",
        MUID,
        DAY + timedelta(hours=1),
    )
    assert row is not None
    return (row["value"], row["source_modified"], row["source_record"])


async def test_0007_on_compressed_chunks_and_the_version_guarded_upsert() -> None:
    with pglite_server("source-version") as dsn:
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            await migrate_connection(conn, [m for m in load_migrations() if m.version < "0007"])
            await conn.execute(
                "INSERT INTO readings (muid, obis, ts, value, quality)"
                " SELECT $1, $2, $3::timestamptz + i * interval '15 minutes', i, 'measured'"
                " FROM generate_series(0, 95) i",
                MUID,
                OBIS,
                DAY,
            )
            assert await conn.fetch(
                "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('readings') c"
            )
            assert "0007" in await migrate_connection(conn, load_migrations())
            assert await conn.fetchval(
                "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'readings'"
                " AND is_compressed"
            )
            assert await stored(conn) == (4.0, None, None)

            await conn.execute(_CREATE_STAGING)
            await upsert(conn, 5.0, NEW, 3)  # a version beats none
            assert await stored(conn) == (5.0, NEW, 3)
            await upsert(conn, 6.0, OLD, 9)  # older object: refused
            await upsert(conn, 7.0, None, None)  # no version: refused
            await upsert(conn, 8.0, NEW, 2)  # same object, earlier record: refused
            assert await stored(conn) == (5.0, NEW, 3)
            await upsert(conn, 9.0, NEW, 4)  # same object, later record: wins
            assert await stored(conn) == (9.0, NEW, 4)
            assert await conn.fetchval("SELECT count(*) FROM readings") == 96
        finally:
            await conn.close()
