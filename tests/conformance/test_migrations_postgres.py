"""The migrations and their runner against the real local PostgreSQL (no TimescaleDB there).

Run: uv run pytest tests/conformance/test_migrations_postgres.py -q   (fixtures: see conftest.py)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from meterflow_schema import (
    MigrationChecksumError,
    MigrationError,
    load_migrations,
    migrate,
    packaged_migrations,
    split_statements,
    timescale_available,
)

pytestmark = pytest.mark.integration

ALL_VERSIONS = [m.version for m in load_migrations()]


def copy_packaged_migrations(directory: Path) -> None:
    """The packaged migration files, byte for byte, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for entry in packaged_migrations().iterdir():
        if entry.name.endswith(".sql"):
            (directory / entry.name).write_bytes(entry.read_bytes())


def test_packaged_migrations_are_found_and_ordered() -> None:
    packaged = sorted(e.name for e in packaged_migrations().iterdir() if e.name.endswith(".sql"))
    assert [m.filename for m in load_migrations()] == packaged
    assert sorted(ALL_VERSIONS) == ALL_VERSIONS
    assert ALL_VERSIONS[:4] == ["0001", "0002", "0003", "0004"]


async def test_migrations_apply_and_record_checksums(pg_dsn: str) -> None:
    applied = await migrate(pg_dsn)

    assert applied == ALL_VERSIONS
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        assert [(r["version"], r["name"], r["checksum"]) for r in rows] == [
            (m.version, m.name, m.checksum) for m in load_migrations()
        ]
        assert not await timescale_available(conn)
    finally:
        await conn.close()


async def test_rerun_applies_nothing(pg_dsn: str) -> None:
    assert await migrate(pg_dsn) == ALL_VERSIONS
    assert await migrate(pg_dsn) == []


async def test_concurrent_runners_apply_each_migration_once(pg_dsn: str) -> None:
    results = await asyncio.gather(*(migrate(pg_dsn) for _ in range(3)))

    assert sorted(v for result in results for v in result) == ALL_VERSIONS
    assert sorted(results, key=len)[:-1] == [[], []]


async def test_changed_applied_file_is_an_error(pg_dsn: str, tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    copy_packaged_migrations(directory)
    await migrate(pg_dsn, directory)
    changed = directory / "0002_readings.sql"
    changed.write_text(changed.read_text() + "\n-- an innocent-looking edit\n")

    with pytest.raises(MigrationChecksumError, match=r"0002_readings\.sql changed after it was applied"):
        await migrate(pg_dsn, directory)


async def test_readings_has_the_primary_key_and_columns(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        pk = await conn.fetch(
            """
            SELECT a.attname
            FROM pg_index i
            JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
            JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
            WHERE i.indrelid = 'readings'::regclass AND i.indisprimary
            ORDER BY k.ord
            """
        )
        assert [r["attname"] for r in pk] == ["muid", "obis", "ts"]
        columns = await conn.fetch(
            """
            SELECT column_name, data_type, is_nullable
            FROM information_schema.columns WHERE table_name = 'readings' ORDER BY ordinal_position
            """
        )
        assert [(c["column_name"], c["data_type"], c["is_nullable"]) for c in columns] == [
            ("muid", "uuid", "NO"),
            ("obis", "text", "NO"),
            ("ts", "timestamp with time zone", "NO"),
            ("value", "double precision", "NO"),
            ("quality", "text", "NO"),
            ("ingested_at", "timestamp with time zone", "NO"),
            ("source_modified", "timestamp with time zone", "YES"),
            ("source_record", "integer", "YES"),
        ]
        indexes = await conn.fetchval("SELECT array_agg(indexname::text) FROM pg_indexes WHERE tablename = 'readings'")
        # Every query names the series first: the primary key serves it, and readings_ts_idx (0002) went in 0011.
        assert indexes == ["readings_pkey"]

        muid = uuid.uuid4()
        ts = datetime(2024, 1, 1, tzinfo=UTC)
        insert = (
            "INSERT INTO readings (muid, obis, ts, value, quality) VALUES ($1, '1-0:1.29.0*255', $2, $3, 'measured')"
        )
        await conn.execute(insert, muid, ts, 1.5)
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(insert, muid, ts, 2.5)
        assert await conn.fetchval("SELECT ingested_at IS NOT NULL FROM readings") is True
    finally:
        await conn.close()


async def test_plain_postgres_aggregates(pg_dsn: str) -> None:
    """Without TimescaleDB, readings_hourly is a table kept by triggers (0005, see test_hourly_rollup_postgres.py)
    and readings_daily a view over it, both bucketed in UTC."""
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        # A session time zone other than UTC must not move the buckets.
        await conn.execute("SET TIME ZONE 'Europe/Zurich'")
        muid = uuid.uuid4()
        start = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)
        rows = [(muid, "1-0:1.29.0*255", start + timedelta(minutes=15 * i), 0.25 * i, "measured") for i in range(16)]
        await conn.copy_records_to_table("readings", records=rows, columns=["muid", "obis", "ts", "value", "quality"])
        daily = await conn.fetch("SELECT bucket, total, n, min_value, max_value FROM readings_daily ORDER BY bucket")
        assert [tuple(r.values()) for r in daily] == [
            (datetime(2024, 3, 30, tzinfo=UTC), sum(0.25 * i for i in range(8)), 8, 0.0, 1.75),
            (datetime(2024, 3, 31, tzinfo=UTC), sum(0.25 * i for i in range(8, 16)), 8, 2.0, 3.75),
        ]
        hourly = await conn.fetch("SELECT bucket, n FROM readings_hourly ORDER BY bucket")
        assert [(r["bucket"], r["n"]) for r in hourly] == [(start + timedelta(hours=h), 4) for h in range(4)]
        kinds = await conn.fetch(
            "SELECT relname, relkind::text FROM pg_class WHERE relname IN ('readings_hourly', 'readings_daily')"
        )
        assert {r["relname"]: r["relkind"] for r in kinds} == {"readings_hourly": "r", "readings_daily": "v"}
    finally:
        await conn.close()


async def test_dirty_buckets_table(pg_dsn: str) -> None:
    await migrate(pg_dsn)
    conn = await asyncpg.connect(pg_dsn)
    try:
        muid = uuid.uuid4()
        day = datetime(2024, 1, 1, tzinfo=UTC)
        mark = (
            "INSERT INTO readings_dirty_buckets (muid, obis, bucket) VALUES ($1, 'x', $2) "
            "ON CONFLICT (muid, obis, bucket) DO UPDATE SET marked_at = now()"
        )
        await conn.execute(mark, muid, day)
        await conn.execute(mark, muid, day)
        assert await conn.fetchval("SELECT count(*) FROM readings_dirty_buckets") == 1
    finally:
        await conn.close()


async def test_failed_migration_leaves_nothing_behind(pg_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_good.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int);\nSELECT no_such_function();")

    with pytest.raises(MigrationError, match=r"0002_bad\.sql failed"):
        await migrate(pg_dsn, tmp_path)

    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT array_agg(version) FROM schema_migrations") == ["0001"]
        assert await conn.fetchval("SELECT to_regclass('half')") is None
        assert await conn.fetchval("SELECT to_regclass('good')") == "good"
    finally:
        await conn.close()


async def test_no_transaction_marker_runs_statements_one_by_one(pg_dsn: str, tmp_path: Path) -> None:
    (tmp_path / "0001_table.sql").write_text("CREATE TABLE t (id int, note text);")
    # CREATE INDEX CONCURRENTLY is refused inside a transaction block: it only passes with the marker.
    (tmp_path / "0002_index.sql").write_text(
        "-- meterflow:no-transaction\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id_idx ON t (id);\n"
        "INSERT INTO t VALUES (1, 'semi;colon ''quoted''');\n"
        "DO $$ BEGIN PERFORM 1; END $$;\n"
    )
    assert await migrate(pg_dsn, tmp_path) == ["0001", "0002"]
    conn = await asyncpg.connect(pg_dsn)
    try:
        assert await conn.fetchval("SELECT note FROM t") == "semi;colon 'quoted'"
        assert await conn.fetchval("SELECT to_regclass('t_id_idx')") == "t_id_idx"
    finally:
        await conn.close()
    (tmp_path / "0003_in_tx.sql").write_text("CREATE INDEX CONCURRENTLY t_note_idx ON t (note);")
    with pytest.raises(MigrationError, match="cannot run inside a transaction block"):
        await migrate(pg_dsn, tmp_path)


def test_badly_named_or_duplicate_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_short.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_<lower_snake_name>"):
        load_migrations(tmp_path)
    (tmp_path / "1_short.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="version 0001 is used by"):
        load_migrations(tmp_path)


def test_split_statements() -> None:
    sql = """
    -- leading comment; with a semicolon
    CREATE TABLE a (x text DEFAULT 'a;b');
    /* block; /* nested; */ still comment */
    DO $body$ BEGIN PERFORM 1; PERFORM 2; END $body$;
    DO $$ BEGIN RAISE NOTICE 'x;y'; END $$;
    SELECT E'it\\'s; fine', 'c:\\', "odd;name" FROM a;
    SELECT $1;
    -- trailing comment only
    """
    statements = split_statements(sql)
    assert len(statements) == 5
    assert statements[0].endswith("CREATE TABLE a (x text DEFAULT 'a;b')")
    assert statements[1].endswith("DO $body$ BEGIN PERFORM 1; PERFORM 2; END $body$")
    assert statements[2] == "DO $$ BEGIN RAISE NOTICE 'x;y'; END $$"
    assert statements[3] == """SELECT E'it\\'s; fine', 'c:\\', "odd;name" FROM a"""
    assert statements[4] == "SELECT $1"
