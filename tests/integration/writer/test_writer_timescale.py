"""The writer's TimescaleDB path on a real TimescaleDB engine (PGlite + TimescaleDB 2.23, docs/storage.md):
its own statements, COPY included, into a hypertable with continuous aggregates. It detects the aggregates,
marks the day buckets its writes touch and refreshes them, so a late correction of a materialized bucket
shows in readings_daily once the round ran; it keeps channels exact; and late data lands in COMPRESSED chunks
(the production default after 30 days) through both paths: the optimistic COPY straight into readings, and
COPY into the staging table plus the upsert, when the key of a compressed row refuses the COPY.

The PGlite server plays COPY FROM STDIN itself (infra/timescale/pglite/server.mjs): it gathers the CopyData
that asyncpg sends, which is the writer's own binary encoding (pgcopy.py), and has the engine run the same
statement with FROM '/dev/blob' over those bytes. PGlite serves one connection at a time, so the pool has one
connection and no prepared-statement cache; everything else is the writer's Database as it runs in production.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from channel_truth import recomputed_channels, stored_channels
from meterflow_schema import migrate
from meterflow_writer.db import _CREATE_STAGING, Database
from meterflow_writer.domain import Row, WriteOutcome
from pglite import pglite_server

if TYPE_CHECKING:
    from meterflow_writer.db import Conn

pytestmark = pytest.mark.conformance

METERS = (
    uuid.UUID("11111111-1111-4111-8111-111111111111"),
    uuid.UUID("22222222-2222-4222-8222-222222222222"),
)
# The compressed-chunk test's own meters, in a chunk of their own (chunks are 7 days from a Thursday;
# 2023-06-01 is one), so the two tests do not see each other's rows.
LATE_METERS = (
    uuid.UUID("33333333-3333-4333-8333-333333333333"),
    uuid.UUID("44444444-4444-4444-8444-444444444444"),
)
OBIS = "1-0:1.29.0*255"
DAY0 = datetime(2023, 2, 1, tzinfo=UTC)
LATE_DAY0 = datetime(2023, 6, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def timescale_dsn() -> Iterator[str]:
    """A TimescaleDB (PGlite) server of this module's own: own port and state folder, stopped afterwards."""
    with pglite_server("writer") as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def migrated(timescale_dsn: str) -> str:
    await migrate(timescale_dsn)
    return timescale_dsn


class PGliteDatabase(Database):
    """The writer's Database on one connection without a prepared-statement cache (PGlite serves one client
    at a time), noting the table each of its real COPY statements went into."""

    @staticmethod
    async def _init_connection(conn: asyncpg.Connection) -> None:
        # PGlite's one backend session outlives each connection, and temp_buffers cannot change in a session
        # that has used a temp table: only the staging table, as the writer creates it.
        await conn.execute(_CREATE_STAGING)

    def __init__(self, dsn: str) -> None:
        super().__init__(dsn, pool_size=1)
        self.copies: list[str] = []

    async def _create_pool(self) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=1, statement_cache_size=0, init=self._init_connection
        )

    async def _copy_into_readings(self, conn: Conn, rows: Sequence[Row], payload: bytes) -> None:
        self.copies.append("readings")
        await super()._copy_into_readings(conn, rows, payload)

    async def _load_staging(self, conn: Conn, rows: Sequence[Row], payload: bytes) -> None:
        self.copies.append("readings_staging")
        await super()._load_staging(conn, rows, payload)


@asynccontextmanager
async def writer_database(dsn: str) -> AsyncIterator[PGliteDatabase]:
    db = PGliteDatabase(dsn)
    await db.connect()
    try:
        yield db
    finally:
        await db.close()


@asynccontextmanager
async def connection(db: PGliteDatabase) -> AsyncIterator[Conn]:
    """The pool's one connection, for the test's own queries between the writer's."""
    pool = db._pool
    assert pool is not None
    async with pool.acquire() as conn:
        yield conn


def day_rows(day: int, value: float, meters: Sequence[Any] = METERS, start: datetime = DAY0) -> list[Row]:
    first = start + timedelta(days=day)
    return [
        (m, OBIS, first + timedelta(minutes=15 * i), value, "measured", None, None) for m in meters for i in range(96)
    ]


async def daily_totals(db: PGliteDatabase) -> dict[tuple[Any, datetime], float]:
    async with connection(db) as conn:
        rows = await conn.fetch("SELECT muid, bucket, total FROM readings_daily WHERE obis = $1", OBIS)
    return {(r["muid"], r["bucket"]): r["total"] for r in rows}


async def marks(db: PGliteDatabase) -> set[tuple[Any, datetime]]:
    async with connection(db) as conn:
        rows = await conn.fetch("SELECT muid, bucket FROM readings_dirty_buckets")
    return {(r["muid"], r["bucket"]) for r in rows}


async def assert_channels_exact(db: PGliteDatabase, meters: Sequence[Any], readings: int) -> None:
    """channels equals its recomputation from readings, and ``meters`` hold ``readings`` readings."""
    async with connection(db) as conn:
        stored = await stored_channels(conn)
        assert stored == await recomputed_channels(conn)
    assert sum(c[9] for c in stored if c[0] in meters) == readings


async def test_writes_mark_touched_buckets_and_the_refresh_keeps_aggregates_fresh(migrated: str) -> None:
    async with writer_database(migrated) as db:
        assert db.aggregates == ("readings_hourly", "readings_daily")

        # Three days of two meters, COPYed straight into the hypertable: every touched (meter, day) is
        # marked in the write's transaction.
        outcome = await db.write([row for day in range(3) for row in day_rows(day, 1.0)])
        assert (outcome.inserted, outcome.changed) == (2 * 3 * 96, 0)
        assert db.copies == ["readings"]
        assert await marks(db) == {(m, DAY0 + timedelta(days=d)) for m in METERS for d in range(3)}
        await assert_channels_exact(db, METERS, 2 * 3 * 96)
        refreshed = await db.refresh_aggregates()
        assert refreshed is not None
        assert (refreshed.marks, refreshed.windows) == (6, 1)
        assert await marks(db) == set()
        assert set((await daily_totals(db)).values()) == {96.0}

        # A correction of meter 1 on day 1, below the watermark now: the key refuses the COPY, the rows go
        # through the staging table and the upsert. Stale until refreshed ...
        outcome = await db.write(day_rows(1, 2.0, METERS[:1]))
        assert (outcome.inserted, outcome.changed) == (0, 96)
        assert db.copies == ["readings", "readings", "readings_staging"]
        assert await marks(db) == {(METERS[0], DAY0 + timedelta(days=1))}
        await assert_channels_exact(db, METERS, 2 * 3 * 96)
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

        # Compressed chunks: the optimistic COPY still meets the key (TimescaleDB decompresses the segment
        # to check it), so the correction takes the upsert path; no duplicates, new values win.
        async with connection(db) as conn:
            compressed = await conn.fetchval(
                "SELECT count(compress_chunk(c, if_not_compressed => true)) FROM show_chunks('readings') c"
            )
        assert compressed >= 1
        db._optimistic = True  # as after a fresh batch: the correction must be refused by the key
        outcome = await db.write(day_rows(2, 3.0, METERS[:1]))
        assert (outcome.inserted, outcome.changed) == (0, 96)
        async with connection(db) as conn:
            stored = await conn.fetch(
                "SELECT value, count(*) AS n FROM readings WHERE muid = $1 AND ts >= $2 AND ts < $3 GROUP BY value",
                METERS[0],
                DAY0 + timedelta(days=2),
                DAY0 + timedelta(days=3),
            )
        assert [(r["value"], r["n"]) for r in stored] == [(3.0, 96)]
        await assert_channels_exact(db, METERS, 2 * 3 * 96)
        refreshed = await db.refresh_aggregates()
        assert refreshed is not None and refreshed.marks == 1
        assert (await daily_totals(db))[(METERS[0], DAY0 + timedelta(days=2))] == 288.0
        # Late data into compressed chunks, some of it new: the span and the count move by what was new.
        outcome = await db.write(day_rows(-1, 1.0, METERS[:1]) + day_rows(0, 1.0, METERS[:1]))
        assert (outcome.inserted, outcome.changed) == (96, 0)
        await assert_channels_exact(db, METERS, 2 * 3 * 96 + 96)


async def test_late_data_is_copied_into_a_compressed_chunk_by_both_paths(migrated: str) -> None:
    def late(day: int, value: float, meters: Sequence[Any] = LATE_METERS) -> list[Row]:
        return day_rows(day, value, meters, LATE_DAY0)

    async with writer_database(migrated) as db:
        # Two days of two meters, then their chunk is compressed, as the policy does after 30 days.
        assert (await db.write(late(0, 1.0) + late(1, 1.0))).inserted == 2 * 2 * 96
        async with connection(db) as conn:
            chunk = await conn.fetchval(
                "SELECT c FROM show_chunks('readings', newer_than => $1::timestamptz) c ORDER BY 1 LIMIT 1",
                LATE_DAY0 - timedelta(days=1),
            )
            await conn.execute("SELECT compress_chunk($1::regclass)", chunk)
        assert await chunk_compressed(db, LATE_DAY0) is True
        expected = {(row[0], row[2]): row[3] for row in late(0, 1.0) + late(1, 1.0)}

        # Late data with new keys: the writer's binary COPY goes straight into the compressed chunk.
        db.copies.clear()
        db._optimistic = True
        rows = late(2, 2.0) + late(3, 2.0, LATE_METERS[:1])
        outcome = await db.write(rows)
        assert (outcome.inserted, outcome.changed) == (3 * 96, 0)
        assert db.copies == ["readings"]
        expected |= {(row[0], row[2]): row[3] for row in rows}

        # Corrections of compressed rows mixed with new rows: the key of a compressed row refuses the COPY,
        # and the batch is COPYed into the staging table and upserted.
        db.copies.clear()
        db._optimistic = True
        rows = late(0, 5.0, LATE_METERS[:1]) + late(3, 5.0, LATE_METERS[1:])
        outcome = await db.write(rows)
        assert (outcome.inserted, outcome.changed) == (96, 96)
        assert db.copies == ["readings", "readings_staging"]
        expected |= {(row[0], row[2]): row[3] for row in rows}
        # A replay of it changes nothing.
        assert await db.write(rows) == WriteOutcome(0, 0)

        assert await chunk_compressed(db, LATE_DAY0) is True
        assert await late_readings(db) == expected
        await assert_channels_exact(db, LATE_METERS, len(expected))

        # The continuous aggregate, refreshed over the days the writes marked, agrees with the readings.
        refreshed = await db.refresh_aggregates()
        assert refreshed is not None and refreshed.marks >= 8
        totals = await daily_totals(db)
        for meter in LATE_METERS:
            for day in range(4):
                bucket = LATE_DAY0 + timedelta(days=day)
                want = sum(
                    v for (m, ts), v in expected.items() if m == meter and bucket <= ts < bucket + timedelta(days=1)
                )
                assert totals[(meter, bucket)] == want
        assert sum(totals[(m, LATE_DAY0 + timedelta(days=d))] for m in LATE_METERS for d in range(4)) == sum(
            expected.values()
        )


async def chunk_compressed(db: PGliteDatabase, ts: datetime) -> bool:
    async with connection(db) as conn:
        compressed: bool = await conn.fetchval(
            "SELECT is_compressed FROM timescaledb_information.chunks"
            " WHERE hypertable_name = 'readings' AND range_start <= $1 AND $1 < range_end",
            ts,
        )
    return compressed


async def late_readings(db: PGliteDatabase) -> dict[tuple[Any, datetime], float]:
    """The late meters' readings by (muid, ts); fails on a key stored twice."""
    async with connection(db) as conn:
        rows = await conn.fetch(
            "SELECT muid, ts, value FROM readings WHERE muid = ANY($1::uuid[]) AND obis = $2", LATE_METERS, OBIS
        )
    stored = {(r["muid"], r["ts"]): r["value"] for r in rows}
    assert len(stored) == len(rows), "a key is stored twice"
    return stored
