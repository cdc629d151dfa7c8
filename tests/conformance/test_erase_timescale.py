"""`meterflow meters erase` on TimescaleDB (PGlite build): the meter's rows go from the hypertable, and its
buckets go from the continuous aggregates' materialization too (the erasure refreshes them over the erased
days), so the real-time aggregates show nothing of it; the other meter keeps every bucket. The roles of
migration 0009 exist there as well."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from meterflow_cli.meters_cmd import erase_meter
from meterflow_schema import migrate
from pglite import pglite_server

pytestmark = pytest.mark.conformance

ERASED, KEPT = uuid.UUID("00000000-0000-4000-8000-00000000c001"), uuid.UUID("00000000-0000-4000-8000-00000000c002")
DAY = datetime(2024, 3, 30, tzinfo=UTC)
INSERT_TWO_DAYS = """
INSERT INTO readings (muid, obis, ts, value, quality)
SELECT m, '1-0:1.29.0*255', $2::timestamptz + i * interval '15 minutes', 0.25, 'measured'
FROM unnest($1::uuid[]) m, generate_series(0, 191) i
"""
MATERIALIZE = (
    "CALL refresh_continuous_aggregate('{view}', '2024-03-29T00:00:00Z'::timestamptz,"
    " '2024-04-02T00:00:00Z'::timestamptz)"
)


async def buckets(dsn: str, muid: uuid.UUID) -> dict[str, int]:
    conn = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        return {
            view: await conn.fetchval(f"SELECT count(*) FROM {view} WHERE muid = $1", muid)
            for view in ("readings", "readings_hourly", "readings_daily")
        }
    finally:
        await conn.close()


async def test_erase_removes_the_meter_from_hypertable_and_aggregates() -> None:
    with pglite_server("erase") as dsn:
        await migrate(dsn)
        conn = await asyncpg.connect(dsn, statement_cache_size=0)
        try:
            roles = await conn.fetchval(
                "SELECT count(*) FROM pg_roles WHERE rolname IN ('meterflow_reader', 'meterflow_ingest')"
            )
            assert roles == 2
            await conn.execute(INSERT_TWO_DAYS, [ERASED, KEPT], DAY)
            for view in ("readings_hourly", "readings_daily"):
                await conn.execute(MATERIALIZE.format(view=view))
        finally:
            await conn.close()
        assert await buckets(dsn, ERASED) == {"readings": 192, "readings_hourly": 48, "readings_daily": 2}

        erasure = await erase_meter(dsn, ERASED, "conformance")
        assert erasure.readings == 192  # (no channels rows: plain INSERTs bypass the writer that keeps them)

        assert await buckets(dsn, ERASED) == {"readings": 0, "readings_hourly": 0, "readings_daily": 0}
        assert await buckets(dsn, KEPT) == {"readings": 192, "readings_hourly": 48, "readings_daily": 2}
