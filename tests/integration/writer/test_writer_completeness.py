"""The writer's completeness check against PostgreSQL: silent meters and the expected and missing intervals
of the last day, from the channels table and the last day of readings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from meterflow_schema import refresh_channels
from meterflow_writer.completeness import check_once
from prometheus_client import REGISTRY

pytestmark = pytest.mark.integration

STEP = timedelta(minutes=15)
NOW = datetime.now(UTC)
RECENT = NOW.replace(second=0, microsecond=0) - timedelta(minutes=NOW.minute % 15)
REPORTING, SILENT = uuid.UUID(int=11), uuid.UUID(int=12)


async def test_silent_meters_and_missing_intervals_of_the_last_day(database: str) -> None:
    # REPORTING: the last 8 hours, every other interval missing; SILENT: 4 intervals three days ago.
    rows = [(REPORTING, "1-0:1.29.0*255", RECENT - i * STEP, 1.0, "measured") for i in range(0, 32, 2)]
    rows += [(SILENT, "1-0:1.29.0*255", RECENT - timedelta(days=3) - i * STEP, 1.0, "measured") for i in range(4)]
    conn = await asyncpg.connect(database)
    try:
        await conn.copy_records_to_table("readings", records=rows, columns=["muid", "obis", "ts", "value", "quality"])
        await refresh_channels(conn, {(r[0], r[1]) for r in rows})
        await conn.execute("UPDATE channels SET interval_s = 900")  # every other interval: 1800 would be inferred
    finally:
        await conn.close()
    await check_once(database, timeout_s=30)
    assert REGISTRY.get_sample_value("meterflow_writer_silent_meters") == 1
    expected = REGISTRY.get_sample_value("meterflow_writer_expected_intervals_last_day")
    missing = REGISTRY.get_sample_value("meterflow_writer_missing_intervals_last_day")
    # REPORTING is due from its first reading (7.5 h ago) to now: 30 or 31 intervals, 16 of them present;
    # SILENT is due for the whole day: 96 intervals, none present.
    assert expected is not None and missing is not None
    assert expected - 96 in (30, 31)
    assert missing == expected - 16
    assert (REGISTRY.get_sample_value("meterflow_writer_completeness_checked_timestamp_seconds") or 0) > 0
