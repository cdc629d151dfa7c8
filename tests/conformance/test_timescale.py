"""TimescaleDB conformance: the same migrations on a real TimescaleDB engine (PGlite build, 2.23), and the
aggregate SQL giving the same numbers there as on plain PostgreSQL.

Run: uv run pytest tests/conformance -q   (the session starts infra/timescale/pglite.sh unless MF_PGLITE_DSN
is set; see conftest.py). The PGlite server takes one connection at a time, so every test opens one
connection, uses it and closes it. The fixture rows go in with one INSERT, the same on both engines; the
writer's COPY path runs in tests/integration/writer/test_writer_timescale.py.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from channel_truth import expected_channels, stored_channels
from meterflow_schema import load_migrations, migrate, migrate_connection, timescale_available

pytestmark = pytest.mark.conformance

ALL_VERSIONS = [m.version for m in load_migrations()]

OBIS = "1-0:1.29.0*255"
METERS = [uuid.UUID("00000000-0000-4000-8000-00000000a001"), uuid.UUID("00000000-0000-4000-8000-00000000a002")]
# Three UTC days across the European switch to summer time (2024-03-31): buckets must not follow it.
DAYS = [datetime(2024, 3, 30, tzinfo=UTC) + timedelta(days=d) for d in range(3)]
INTERVALS_PER_DAY = 96  # 15-minute load profile


def fixture_rows() -> list[tuple[uuid.UUID, str, datetime, float, str]]:
    """2 meters x 3 days of 15-minute values. Multiples of 1/4 add up exactly in any order, so the
    engines' sums can be compared with ==."""
    rows = []
    for m, muid in enumerate(METERS):
        for d, day in enumerate(DAYS):
            for i in range(INTERVALS_PER_DAY):
                value = 0.25 * (i + 1) * (m + 1) + d
                rows.append((muid, OBIS, day + timedelta(minutes=15 * i), value, "measured"))
    return rows


def expected_daily() -> list[tuple[uuid.UUID, str, datetime, float, int, float, float]]:
    out = []
    for m, muid in enumerate(METERS):
        for d, day in enumerate(DAYS):
            values = [0.25 * (i + 1) * (m + 1) + d for i in range(INTERVALS_PER_DAY)]
            out.append((muid, OBIS, day, sum(values), len(values), min(values), max(values)))
    return out


# The same question asked of the raw rows: time_bucket on TimescaleDB, date_trunc(..., 'UTC') elsewhere.
RAW_DAILY_TIMESCALE = """
SELECT muid, obis, time_bucket(interval '1 day', ts) AS bucket,
       sum(value) AS total, count(*) AS n, min(value) AS min_value, max(value) AS max_value
FROM readings WHERE muid = ANY($1::uuid[]) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
RAW_DAILY_POSTGRES = """
SELECT muid, obis, date_trunc('day', ts, 'UTC') AS bucket,
       sum(value) AS total, count(*) AS n, min(value) AS min_value, max(value) AS max_value
FROM readings WHERE muid = ANY($1::uuid[]) GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
DAILY_VIEW = """
SELECT muid, obis, bucket, total, n, min_value, max_value
FROM readings_daily WHERE muid = ANY($1::uuid[]) ORDER BY 1, 2, 3
"""
HOURLY_VIEW = """
SELECT muid, obis, bucket, total, n, min_value, max_value
FROM readings_hourly WHERE muid = ANY($1::uuid[]) ORDER BY 1, 2, 3
"""
COLUMNS = ["muid", "obis", "ts", "value", "quality"]
# One statement for the whole batch, the same on both engines (a round trip per row is slow on PGlite).
INSERT_MANY = """
INSERT INTO readings (muid, obis, ts, value, quality)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[])
"""
UPSERT = """
INSERT INTO readings AS r (muid, obis, ts, value, quality) VALUES ($1, $2, $3, $4, 'corrected')
ON CONFLICT (muid, obis, ts) DO UPDATE
    SET value = EXCLUDED.value, quality = EXCLUDED.quality, ingested_at = now()
    WHERE r.value IS DISTINCT FROM EXCLUDED.value OR r.quality IS DISTINCT FROM EXCLUDED.quality
"""


def as_tuples(rows: Sequence[asyncpg.Record]) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in rows]


@asynccontextmanager
async def connect(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    # One connection at a time on PGlite: always closed before the next one opens.
    conn: asyncpg.Connection = await asyncpg.connect(dsn, statement_cache_size=0, timeout=30)
    try:
        yield conn
    finally:
        await conn.close(timeout=10)


@pytest.fixture(scope="module")
async def timescale(pglite_dsn: str) -> str:
    """The PGlite TimescaleDB server, migrated from scratch, holding the fixture rows.

    The rows go in before the channels migration (0006), so that its backfill runs over a populated
    hypertable. PGlite has one database and no DROP DATABASE, so the server must be fresh: leftover
    materializations would hide the real-time aggregation checked here. (Wiping it with DROP SCHEMA public
    does not work on PGlite: later CREATE TABLEs land in pg_catalog.)"""
    async with connect(pglite_dsn) as conn:
        if await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL"):
            pytest.fail(f"{pglite_dsn} already holds a migrated schema: the suite needs a freshly started server")
        before_channels = [m for m in load_migrations() if m.version < "0006"]
        applied = await migrate_connection(conn, before_channels)
        await conn.execute(INSERT_MANY, *zip(*fixture_rows(), strict=True))
    assert applied + await migrate(pglite_dsn) == ALL_VERSIONS
    return pglite_dsn


@pytest.fixture(scope="module")
async def postgres(pg_database: Callable[[], AbstractAsyncContextManager[str]]) -> AsyncIterator[str]:
    """A plain PostgreSQL database, migrated, holding the same fixture rows."""
    async with pg_database() as dsn:
        await migrate(dsn)
        async with connect(dsn) as conn:
            await conn.execute(INSERT_MANY, *zip(*fixture_rows(), strict=True))
        yield dsn


async def test_every_migration_applies_and_reapplying_is_a_no_op(timescale: str) -> None:
    assert await migrate(timescale) == []
    async with connect(timescale) as conn:
        assert await timescale_available(conn)
        versions = await conn.fetchval("SELECT array_agg(version ORDER BY version) FROM schema_migrations")
        assert versions == ALL_VERSIONS
        assert (await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")).startswith(
            "2."
        )


async def test_channels_backfilled_from_the_hypertable(timescale: str) -> None:
    async with connect(timescale) as conn:
        stored = await stored_channels(conn)
    assert stored == expected_channels([(muid, obis, ts) for muid, obis, ts, _, _ in fixture_rows()])
    assert [(c[2], c[5], c[6], c[9]) for c in stored] == [("active_energy", "energy", 900, 288)] * len(METERS)


async def test_readings_is_a_hypertable_on_ts(timescale: str) -> None:
    async with connect(timescale) as conn:
        hypertable = await conn.fetchrow(
            "SELECT num_dimensions, compression_enabled FROM timescaledb_information.hypertables "
            "WHERE hypertable_name = 'readings'"
        )
        assert hypertable is not None
        assert (hypertable["num_dimensions"], hypertable["compression_enabled"]) == (1, True)
        dimension = await conn.fetchrow(
            "SELECT column_name, time_interval FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'readings'"
        )
        assert dimension is not None
        assert (dimension["column_name"], dimension["time_interval"]) == ("ts", timedelta(days=7))
        assert await conn.fetchval("SELECT count(*) FROM show_chunks('readings')") >= 1
        pk = await conn.fetchval(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'readings'::regclass "
            "AND contype = 'p'"
        )
        assert pk == "PRIMARY KEY (muid, obis, ts)"
        # Kept here (0011 drops it on plain PostgreSQL only): the aggregates' refresh reads a time window.
        assert await conn.fetchval("SELECT to_regclass('readings_ts_idx') IS NOT NULL") is True


async def test_compression_is_segmented_by_series(timescale: str) -> None:
    async with connect(timescale) as conn:
        settings = await conn.fetchrow(
            "SELECT segmentby, orderby FROM timescaledb_information.hypertable_compression_settings "
            "WHERE hypertable = 'readings'::regclass"
        )
        assert settings is not None
        assert (settings["segmentby"], settings["orderby"]) == ("muid,obis", "ts DESC")


async def test_policies_exist(timescale: str) -> None:
    async with connect(timescale) as conn:
        jobs = await conn.fetch(
            "SELECT proc_name, hypertable_name, config::text AS config FROM timescaledb_information.jobs "
            "WHERE proc_name IN ('policy_compression', 'policy_refresh_continuous_aggregate')"
        )
    by_table = {(j["proc_name"], j["hypertable_name"]): j["config"] for j in jobs}
    assert '"compress_after": "30 days"' in by_table[("policy_compression", "readings")]
    assert ("policy_refresh_continuous_aggregate", "readings_hourly") in by_table
    assert ("policy_refresh_continuous_aggregate", "readings_daily") in by_table


async def test_continuous_aggregates_are_real_time_and_shaped_like_the_fallback(timescale: str, postgres: str) -> None:
    columns = """
        SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute
        WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum
    """
    async with connect(timescale) as ts, connect(postgres) as pg:
        caggs = await ts.fetch(
            "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates "
            "WHERE hypertable_name = 'readings' ORDER BY view_name"
        )
        assert as_tuples(caggs) == [("readings_daily", False), ("readings_hourly", False)]
        for view in ("readings_hourly", "readings_daily"):
            shape = as_tuples(await ts.fetch(columns, view))
            assert [name for name, _ in shape] == ["muid", "obis", "bucket", "total", "n", "min_value", "max_value"]
            assert shape == as_tuples(await pg.fetch(columns, view))


async def test_daily_sums_agree_with_plain_postgres(timescale: str, postgres: str) -> None:
    expected = expected_daily()
    async with connect(timescale) as ts, connect(postgres) as pg:
        # Buckets are UTC whatever the session's time zone.
        await ts.execute("SET TIME ZONE 'Europe/Zurich'")
        await pg.execute("SET TIME ZONE 'Europe/Zurich'")
        assert as_tuples(await ts.fetch(RAW_DAILY_TIMESCALE, METERS)) == expected
        assert as_tuples(await pg.fetch(RAW_DAILY_POSTGRES, METERS)) == expected
        # Nothing materialized yet: real-time aggregation answers from the raw rows.
        assert as_tuples(await ts.fetch(DAILY_VIEW, METERS)) == expected
        assert as_tuples(await pg.fetch(DAILY_VIEW, METERS)) == expected
        assert as_tuples(await ts.fetch(HOURLY_VIEW, METERS)) == as_tuples(await pg.fetch(HOURLY_VIEW, METERS))
        # Materialized: the same numbers.
        await ts.execute("CALL refresh_continuous_aggregate('readings_daily', NULL, NULL)")
        await ts.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")
        assert as_tuples(await ts.fetch(DAILY_VIEW, METERS)) == expected
        assert as_tuples(await ts.fetch(HOURLY_VIEW, METERS)) == as_tuples(await pg.fetch(HOURLY_VIEW, METERS))
        total = "SELECT sum(total) FROM readings_daily WHERE muid = ANY($1::uuid[])"
        assert await ts.fetchval(total, METERS) == await pg.fetchval(total, METERS) == sum(r[3] for r in expected)


async def test_late_correction_is_stale_until_the_touched_range_is_refreshed(timescale: str, postgres: str) -> None:
    """What docs/storage.md promises: a write below the materialization watermark shows in the continuous
    aggregate only after its range is refreshed (by the writer, or the policy's next run)."""
    day = DAYS[1]
    ts_of_change = day + timedelta(hours=5)
    async with connect(timescale) as ts, connect(postgres) as pg:
        await ts.execute("CALL refresh_continuous_aggregate('readings_daily', NULL, NULL)")
        before = await ts.fetchval("SELECT total FROM readings_daily WHERE muid = $1 AND bucket = $2", METERS[0], day)
        for conn in (ts, pg):
            await conn.execute(UPSERT, METERS[0], OBIS, ts_of_change, 1000.0)
        raw = await ts.fetch(RAW_DAILY_TIMESCALE, METERS)
        assert as_tuples(raw) == as_tuples(await pg.fetch(RAW_DAILY_POSTGRES, METERS))
        stale = await ts.fetchval("SELECT total FROM readings_daily WHERE muid = $1 AND bucket = $2", METERS[0], day)
        assert stale == before  # the materialized bucket has not seen the correction yet
        await ts.execute(
            "CALL refresh_continuous_aggregate('readings_daily', $1::timestamptz, $2::timestamptz)",
            day,
            day + timedelta(days=1),
        )
        assert as_tuples(await ts.fetch(DAILY_VIEW, METERS)) == as_tuples(await pg.fetch(DAILY_VIEW, METERS))
        assert as_tuples(await ts.fetch(DAILY_VIEW, METERS)) == as_tuples(raw)


async def test_compressed_chunks_answer_the_same_and_take_upserts(timescale: str, postgres: str) -> None:
    async with connect(timescale) as ts, connect(postgres) as pg:
        compressed = await ts.fetch(
            "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('readings') c"
        )
        assert compressed
        assert await ts.fetchval(
            "SELECT count(*) FROM timescaledb_information.chunks WHERE hypertable_name = 'readings' AND is_compressed"
        ) == len(compressed)
        assert as_tuples(await ts.fetch(RAW_DAILY_TIMESCALE, METERS)) == as_tuples(
            await pg.fetch(RAW_DAILY_POSTGRES, METERS)
        )
        # The writer's idempotent upsert must work on compressed chunks too (late data older than 30 days).
        for conn in (ts, pg):
            await conn.execute(UPSERT, METERS[1], OBIS, DAYS[2] + timedelta(hours=1), 7.5)
            await conn.execute(UPSERT, METERS[1], OBIS, DAYS[2] + timedelta(hours=1), 7.5)  # replay: no change
        assert as_tuples(await ts.fetch(RAW_DAILY_TIMESCALE, METERS)) == as_tuples(
            await pg.fetch(RAW_DAILY_POSTGRES, METERS)
        )
        count = "SELECT count(*) FROM readings WHERE muid = ANY($1::uuid[])"
        assert await ts.fetchval(count, METERS) == await pg.fetchval(count, METERS) == len(fixture_rows())


async def test_server_runs_copy_from_stdin_and_takes_large_messages(timescale: str) -> None:
    """What docs/storage.md states for the PGlite server: COPY FROM STDIN runs (the server gathers the
    CopyData and has the engine read it from /dev/blob), in binary and text, with the engine's own errors
    and transaction states; and messages larger than one TCP read are reassembled."""
    rows = fixture_rows()
    async with connect(timescale) as conn:
        await conn.execute("CREATE TEMP TABLE copied (LIKE readings INCLUDING ALL)")
        # Binary, encoded by asyncpg, in several CopyData messages.
        assert await conn.copy_records_to_table("copied", records=rows, columns=COLUMNS) == f"COPY {len(rows)}"
        stored = await conn.fetch(f"SELECT {', '.join(COLUMNS)} FROM copied ORDER BY muid, ts")
        assert as_tuples(stored) == sorted(rows, key=lambda r: (r[0], r[2]))
        # Text.
        text = b"".join(f"{r[0]}\t{r[1]}\t{r[2].isoformat()}\t{r[3] + 1}\t{r[4]}\n".encode() for r in rows[:3])
        await conn.execute("TRUNCATE copied")
        assert await conn.copy_to_table("copied", source=io.BytesIO(text), columns=COLUMNS) == "COPY 3"
        assert [r["value"] for r in await conn.fetch("SELECT value FROM copied ORDER BY ts")] == [
            r[3] + 1 for r in rows[:3]
        ]
        # The key refuses a row: the engine's error (SQLSTATE 23505), the transaction rolled back, nothing kept.
        with pytest.raises(asyncpg.UniqueViolationError):
            await replace_in_one_transaction(conn, "copied", rows[:2] + rows[:1])
        assert await conn.fetchval("SELECT count(*) FROM copied") == 3
        # Bytes that are no binary COPY stream: a data exception, and the session goes on.
        with pytest.raises(asyncpg.DataError):
            await conn.copy_to_table(
                "copied", source=io.BytesIO(b"not a copy stream"), columns=COLUMNS, format="binary"
            )
        assert await conn.fetchval("SELECT 1") == 1
        values = [float(i) for i in range(50_000)]  # a ~400 KB Bind message
        assert await conn.fetchval("SELECT sum(v) FROM unnest($1::float8[]) v", values) == sum(values)

    # The client gives up in the middle (CopyFail, then a CancelRequest on a second connection, which the
    # server closes at once): the transaction fails as on PostgreSQL, and the connection stays usable.
    async def failing_source() -> AsyncIterator[bytes]:
        yield b"PGCOPY\n\xff\r\n\x00" + bytes(8)
        raise RuntimeError("the source broke")

    async with connect(timescale) as conn:
        await conn.execute("CREATE TEMP TABLE copied (LIKE readings INCLUDING ALL)")
        with pytest.raises(RuntimeError, match="the source broke"):
            async with conn.transaction():
                await conn.copy_to_table("copied", source=failing_source(), columns=COLUMNS, format="binary")
        assert await conn.fetchval("SELECT count(*) FROM copied") == 0
    async with connect(timescale) as conn:
        assert await conn.fetchval("SELECT to_regclass('pg_temp.copied')") is None  # reset between clients
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE muid = ANY($1::uuid[])", METERS) == len(rows)


async def test_every_client_gets_the_same_fresh_session(timescale: str) -> None:
    """The server resets the one backend session between clients (docs/storage.md): settings, temp tables
    and transactions do not leak, and every client sees the session that RESET ALL gives (asyncpg's pool
    runs it on each release), the first client included."""
    async with connect(timescale) as conn:
        search_path = await conn.fetchval("SHOW search_path")
        await conn.execute("RESET ALL")
        assert await conn.fetchval("SHOW search_path") == search_path
        await conn.execute("SET search_path TO public, pg_catalog")
        await conn.execute("CREATE TEMP TABLE leftover (x int)")
        await conn.execute("BEGIN")
    async with connect(timescale) as conn:
        assert await conn.fetchval("SHOW search_path") == search_path
        assert await conn.fetchval("SELECT to_regclass('pg_temp.leftover')") is None
        assert await conn.fetchval("SELECT to_regclass('readings')") is not None
        assert not conn.is_in_transaction()


async def replace_in_one_transaction(conn: asyncpg.Connection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    async with conn.transaction():
        await conn.execute(f"DELETE FROM {table}")
        await conn.copy_records_to_table(table, records=rows, columns=COLUMNS)
