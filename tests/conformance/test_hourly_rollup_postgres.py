"""readings_hourly on plain PostgreSQL (migration 0005): a table the triggers on readings keep equal to
aggregating the raw rows per UTC hour, whatever writes: COPY, INSERT, the writer's upsert, UPDATE, DELETE,
TRUNCATE, concurrent writers of the same hour; and filled from the rows already there when it is created.

Run: uv run pytest tests/conformance/test_hourly_rollup_postgres.py -q   (fixtures: see conftest.py)
"""

from __future__ import annotations

import asyncio
import math
import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from meterflow_schema import load_migrations, migrate, migrate_connection

pytestmark = pytest.mark.integration

OBIS = "1-0:1.29.0*255"
START = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)
STEP = timedelta(minutes=15)
COLUMNS = ["muid", "obis", "ts", "value", "quality"]

# What readings_hourly must hold: the raw rows grouped by UTC hour, in any session time zone.
EXPECTED = """
SELECT muid, obis, date_trunc('hour', ts, 'UTC') AS bucket, sum(value) AS total, count(*) AS n,
       min(value) AS min_value, max(value) AS max_value
FROM readings GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
"""
ACTUAL = "SELECT muid, obis, bucket, total, n, min_value, max_value FROM readings_hourly ORDER BY 1, 2, 3"


async def assert_rollup_matches(conn: asyncpg.Connection) -> int:
    expected = [tuple(row) for row in await conn.fetch(EXPECTED)]
    actual = [tuple(row) for row in await conn.fetch(ACTUAL)]
    assert [row[:3] + row[4:] for row in actual] == [row[:3] + row[4:] for row in expected]
    for mine, theirs in zip(actual, expected, strict=True):
        assert math.isclose(mine[3], theirs[3], rel_tol=1e-12, abs_tol=1e-12), (mine, theirs)
    return len(actual)


def rows(muid: uuid.UUID, count: int, value: float = 1.0, first: int = 0) -> list[tuple[object, ...]]:
    return [(muid, OBIS, START + (first + i) * STEP, value + i, "measured") for i in range(count)]


@pytest.fixture
async def conn(pg_dsn: str) -> asyncpg.Connection:
    await migrate(pg_dsn)
    connection = await asyncpg.connect(pg_dsn)
    # A session time zone other than UTC must not move the buckets.
    await connection.execute("SET TIME ZONE 'Europe/Zurich'")
    yield connection
    await connection.close()


async def test_is_a_table_and_daily_rolls_it_up(conn: asyncpg.Connection) -> None:
    kinds = await conn.fetch(
        "SELECT relname, relkind::text FROM pg_class WHERE relname IN ('readings_hourly', 'readings_daily')"
    )
    assert {r["relname"]: r["relkind"] for r in kinds} == {"readings_hourly": "r", "readings_daily": "v"}
    muid = uuid.uuid4()
    await conn.copy_records_to_table("readings", records=rows(muid, 16, 0.0), columns=COLUMNS)
    assert await assert_rollup_matches(conn) == 4
    daily = await conn.fetch("SELECT bucket, total, n, min_value, max_value FROM readings_daily ORDER BY bucket")
    assert [tuple(r.values()) for r in daily] == [
        (datetime(2024, 3, 30, tzinfo=UTC), sum(float(i) for i in range(8)), 8, 0.0, 7.0),
        (datetime(2024, 3, 31, tzinfo=UTC), sum(float(i) for i in range(8, 16)), 8, 8.0, 15.0),
    ]


async def test_every_kind_of_write_keeps_it_equal_to_the_raw_rows(conn: asyncpg.Connection) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    await conn.copy_records_to_table("readings", records=rows(a, 10) + rows(b, 7), columns=COLUMNS)
    assert await assert_rollup_matches(conn) == 3 + 2
    # More rows for hours that exist already (COPY again, then plain INSERT).
    await conn.copy_records_to_table("readings", records=rows(a, 3, 50.0, first=10), columns=COLUMNS)
    await conn.execute(
        "INSERT INTO readings (muid, obis, ts, value, quality) VALUES ($1, $2, $3, -4.5, 'm')",
        b,
        OBIS,
        START + 7 * STEP,
    )
    await assert_rollup_matches(conn)
    # The writer's upsert: one row changed, one new, one unchanged (and not updated).
    await conn.execute(
        """
        INSERT INTO readings AS r (muid, obis, ts, value, quality)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[])
        ON CONFLICT (muid, obis, ts) DO UPDATE SET value = excluded.value
        WHERE r.value IS DISTINCT FROM excluded.value
        """,
        [a, a, a],
        [OBIS] * 3,
        [START, START + 20 * STEP, START + STEP],
        [100.0, 2.0, 2.0],
        ["m"] * 3,
    )
    await assert_rollup_matches(conn)
    # A correction that lowers the hour's maximum, one that moves a reading to another hour, deletions.
    await conn.execute("UPDATE readings SET value = 0.5 WHERE muid = $1 AND ts = $2", a, START)
    await conn.execute("UPDATE readings SET ts = ts + interval '5 hours' WHERE muid = $1 AND ts = $2", b, START)
    await conn.execute("DELETE FROM readings WHERE muid = $1 AND ts >= $2", a, START + 8 * STEP)
    assert await assert_rollup_matches(conn) > 0
    # An hour left without readings disappears.
    await conn.execute("DELETE FROM readings WHERE muid = $1", b)
    assert await conn.fetchval("SELECT count(*) FROM readings_hourly WHERE muid = $1", b) == 0
    await assert_rollup_matches(conn)
    await conn.execute("TRUNCATE readings")
    assert await conn.fetchval("SELECT count(*) FROM readings_hourly") == 0


@pytest.mark.parametrize("seed", [5, 6, 7])
async def test_random_writes_keep_it_equal(conn: asyncpg.Connection, seed: int) -> None:
    rng = random.Random(seed)
    meters = [uuid.uuid4() for _ in range(3)]
    for step in range(60):
        muid = rng.choice(meters)
        first = rng.randrange(0, 40)
        action = rng.choice(["copy", "update", "delete"])
        if action == "copy":
            batch = [
                (muid, OBIS, START + (first + i) * STEP, rng.uniform(-1, 1), "m") for i in range(rng.randrange(1, 9))
            ]
            await conn.execute(
                """
                INSERT INTO readings (muid, obis, ts, value, quality)
                SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[])
                ON CONFLICT (muid, obis, ts) DO UPDATE SET value = excluded.value
                """,
                *[list(column) for column in zip(*batch, strict=True)],
            )
        elif action == "update":
            await conn.execute(
                "UPDATE readings SET value = value * 2 - 0.1 WHERE muid = $1 AND ts >= $2 AND ts < $3",
                muid,
                START + first * STEP,
                START + (first + 6) * STEP,
            )
        else:
            await conn.execute(
                "DELETE FROM readings WHERE muid = $1 AND ts >= $2 AND ts < $3",
                muid,
                START + first * STEP,
                START + (first + 3) * STEP,
            )
        if step % 10 == 9:
            await assert_rollup_matches(conn)


async def test_concurrent_writers_of_the_same_hours_add_up(pg_dsn: str, conn: asyncpg.Connection) -> None:
    muid = uuid.uuid4()
    await conn.copy_records_to_table("readings", records=rows(muid, 8, 0.25), columns=COLUMNS)
    writers = [await asyncpg.connect(pg_dsn) for _ in range(4)]
    try:

        async def write(index: int, connection: asyncpg.Connection) -> None:
            async with connection.transaction():
                # Each writer adds its own readings to the same two hours (another obis keeps keys apart),
                # or corrects the existing ones, then holds its locks a moment before committing.
                if index % 2:
                    await connection.execute(
                        "UPDATE readings SET value = value + $2 WHERE muid = $1 AND obis = $3", muid, index, OBIS
                    )
                else:
                    own = [(muid, OBIS, START + i * STEP + timedelta(minutes=index + 1), 1.0, "m") for i in range(8)]
                    await connection.copy_records_to_table("readings", records=own, columns=COLUMNS)
                await asyncio.sleep(0.05)

        await asyncio.gather(*(write(i, c) for i, c in enumerate(writers)))
    finally:
        for connection in writers:
            await connection.close()
    await assert_rollup_matches(conn)


async def test_created_from_the_rows_already_there(pg_dsn: str) -> None:
    connection = await asyncpg.connect(pg_dsn)
    try:
        await migrate_connection(connection, [m for m in load_migrations() if m.version < "0005"])
        await connection.copy_records_to_table("readings", records=rows(uuid.uuid4(), 12), columns=COLUMNS)
        assert await connection.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'readings_hourly'") == "v"
        await migrate(pg_dsn)
        assert await assert_rollup_matches(connection) == 3
    finally:
        await connection.close()
