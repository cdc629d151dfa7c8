"""The writer's TimescaleDB path on a real TimescaleDB engine (PGlite + TimescaleDB 2.23, docs/storage.md):
it detects the continuous aggregates, marks the day buckets its writes touch, and refreshes them, so a late
correction of a materialized bucket shows in readings_daily once the round ran; and it keeps channels exact
on a hypertable, compressed chunks included.

PGlite takes no COPY and one connection at a time. So the staging table is filled with one INSERT ... unnest,
the optimistic path inserts with a plain INSERT, and the pool has one connection. Everything else (the
upsert, the marks of both paths, the refresh) is the writer's own SQL. The COPY path is tested on real
PostgreSQL by the other writer tests.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from channel_truth import recomputed_channels, stored_channels
from meterflow_schema import migrate
from meterflow_writer.db import Database
from meterflow_writer.domain import Row
from pglite import pglite_server

if TYPE_CHECKING:
    from meterflow_writer.db import Conn

pytestmark = pytest.mark.conformance

METERS = (
    uuid.UUID("11111111-1111-4111-8111-111111111111"),
    uuid.UUID("22222222-2222-4222-8222-222222222222"),
)
OBIS = "1-0:1.29.0*255"
DAY0 = datetime(2023, 2, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def timescale_dsn() -> Iterator[str]:
    """A TimescaleDB (PGlite) server of this module's own: own port and state folder, stopped afterwards."""
    with pglite_server("writer") as dsn:
        yield dsn


class PGliteDatabase(Database):
    """The writer's Database, with the two changes PGlite needs (no COPY, no prepared-statement cache)."""

    async def _create_pool(self) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=1, statement_cache_size=0, init=self._init_connection
        )

    async def _load_staging(self, conn: Conn, rows: Sequence[Row], payload: bytes) -> None:
        await insert_unnest(conn, "readings_staging", rows)

    async def _copy_into_readings(self, conn: Conn, rows: Sequence[Row], payload: bytes) -> None:
        # Like COPY, a plain INSERT fails on the first key that exists (the optimistic path's signal).
        await insert_unnest(conn, "readings (muid, obis, ts, value, quality, source_modified, source_record)", rows)


async def insert_unnest(conn: Conn, target: str, rows: Sequence[Row]) -> None:
    columns = [list(column) for column in zip(*rows, strict=True)]
    await conn.execute(
        f"INSERT INTO {target} SELECT * FROM"
        " unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[], $6::timestamptz[], $7::int[])",
        *columns,
    )


def day_rows(day: int, value: float, meters: Sequence[Any] = METERS) -> list[Row]:
    start = DAY0 + timedelta(days=day)
    return [
        (m, OBIS, start + timedelta(minutes=15 * i), value, "measured", None, None) for m in meters for i in range(96)
    ]


async def daily_totals(db: PGliteDatabase) -> dict[tuple[Any, datetime], float]:
    pool = db._pool
    assert pool is not None
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT muid, bucket, total FROM readings_daily WHERE obis = $1", OBIS)
    return {(r["muid"], r["bucket"]): r["total"] for r in rows}


async def marks(db: PGliteDatabase) -> set[tuple[Any, datetime]]:
    pool = db._pool
    assert pool is not None
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT muid, bucket FROM readings_dirty_buckets")
    return {(r["muid"], r["bucket"]) for r in rows}


async def assert_channels_exact(db: PGliteDatabase, readings: int) -> None:
    pool = db._pool
    assert pool is not None
    async with pool.acquire() as conn:
        stored = await stored_channels(conn)
        assert stored == await recomputed_channels(conn)
    assert sum(c[9] for c in stored) == readings


async def test_writes_mark_touched_buckets_and_the_refresh_keeps_aggregates_fresh(timescale_dsn: str) -> None:
    await migrate(timescale_dsn)
    db = PGliteDatabase(timescale_dsn, pool_size=1)
    await db.connect()
    try:
        assert db.aggregates == ("readings_hourly", "readings_daily")

        # Three days of two meters: every touched (meter, day) is marked in the write's transaction.
        outcome = await db.write([row for day in range(3) for row in day_rows(day, 1.0)])
        assert (outcome.inserted, outcome.changed) == (2 * 3 * 96, 0)
        assert await marks(db) == {(m, DAY0 + timedelta(days=d)) for m in METERS for d in range(3)}
        await assert_channels_exact(db, 2 * 3 * 96)
        refreshed = await db.refresh_aggregates()
        assert refreshed is not None
        assert (refreshed.marks, refreshed.windows) == (6, 1)
        assert await marks(db) == set()
        assert set((await daily_totals(db)).values()) == {96.0}

        # A correction of meter 1 on day 1, below the watermark now: stale until refreshed ...
        outcome = await db.write(day_rows(1, 2.0, METERS[:1]))
        assert (outcome.inserted, outcome.changed) == (0, 96)
        assert await marks(db) == {(METERS[0], DAY0 + timedelta(days=1))}
        await assert_channels_exact(db, 2 * 3 * 96)
        assert (await daily_totals(db))[(METERS[0], DAY0 + timedelta(days=1))] == 96.0
        # ... and fresh after the writer's refresh round, which only covered the touched day.
        refreshed = await db.refresh_aggregates()
        assert refreshed is not None
        assert (refreshed.marks, refreshed.windows) == (1, 1)
        totals = await daily_totals(db)
        assert totals[(METERS[0], DAY0 + timedelta(days=1))] == 192.0
        assert totals[(METERS[1], DAY0 + timedelta(days=1))] == 96.0
        assert await marks(db) == set()

        # A replay changes nothing, so it marks nothing.
        outcome = await db.write(day_rows(1, 2.0, METERS[:1]))
        assert (outcome.inserted, outcome.changed) == (0, 0)
        assert await marks(db) == set()

        # Compressed chunks: the optimistic insert still meets the key (TimescaleDB decompresses the
        # segment to check it), so the correction takes the upsert path; no duplicates, new values win.
        pool = db._pool
        assert pool is not None
        async with pool.acquire() as conn:
            compressed = await conn.fetchval("SELECT count(compress_chunk(c)) FROM show_chunks('readings') c")
        assert compressed >= 1
        db._optimistic = True  # as after a fresh batch: the correction must be refused by the key
        outcome = await db.write(day_rows(2, 3.0, METERS[:1]))
        assert (outcome.inserted, outcome.changed) == (0, 96)
        async with pool.acquire() as conn:
            stored = await conn.fetch(
                "SELECT value, count(*) AS n FROM readings WHERE muid = $1 AND ts >= $2 AND ts < $3 GROUP BY value",
                METERS[0],
                DAY0 + timedelta(days=2),
                DAY0 + timedelta(days=3),
            )
        assert [(r["value"], r["n"]) for r in stored] == [(3.0, 96)]
        await assert_channels_exact(db, 2 * 3 * 96)
        refreshed = await db.refresh_aggregates()
        assert refreshed is not None and refreshed.marks == 1
        assert (await daily_totals(db))[(METERS[0], DAY0 + timedelta(days=2))] == 288.0
        # Late data into compressed chunks, some of it new: the span and the count move by what was new.
        outcome = await db.write(day_rows(-1, 1.0, METERS[:1]) + day_rows(0, 1.0, METERS[:1]))
        assert (outcome.inserted, outcome.changed) == (96, 0)
        await assert_channels_exact(db, 2 * 3 * 96 + 96)
    finally:
        await db.close()
