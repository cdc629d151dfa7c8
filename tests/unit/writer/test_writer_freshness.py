"""The writer's freshness metrics after a commit: readings counted against every threshold they meet,
newest reading and landing per source and tenant that never move back, messages without a landing time
left out of the SLI."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from meterflow_contracts import ReadingBatch, SourcePosition
from meterflow_writer.freshness import NO_TENANT, observe_committed
from prometheus_client import REGISTRY

LANDED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIRST = datetime(2026, 3, 1, tzinfo=UTC)


def message(bucket: str, readings: int, landed: datetime | None, first: datetime = FIRST) -> ReadingBatch:
    return ReadingBatch(
        muid=uuid.uuid4(),
        obis="1-0:1.29.0*255",
        obis_hex="0100011D00FF",
        quantity="active_energy",
        direction="import",
        unit="kWh",
        measurement="energy",
        interval_s=900,
        readings=[(first + timedelta(minutes=15 * i), 1.0, "measured") for i in range(readings)],
        source=SourcePosition(
            bucket=bucket, key="k", etag="e", chunk_index=0, record_start=0, record_end=readings, last_modified=landed
        ),
    )


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_readings_count_against_every_threshold_they_meet() -> None:
    before = {s: value("meterflow_writer_readings_queryable_within_total", seconds=s) for s in ("300", "600", "1800")}
    landed_before = value("meterflow_writer_landed_readings_total")
    observe_committed([message("fresh", 4, LANDED)], LANDED.timestamp() + 400)
    assert value("meterflow_writer_landed_readings_total") - landed_before == 4
    grown = {s: value("meterflow_writer_readings_queryable_within_total", seconds=s) - before[s] for s in before}
    assert grown == {"300": 0, "600": 4, "1800": 4}


def test_newest_reading_and_landing_per_source_never_move_back() -> None:
    newest = FIRST + timedelta(minutes=15 * 9)
    observe_committed([message("gauges", 10, LANDED)], LANDED.timestamp() + 5)
    observe_committed([message("gauges", 2, LANDED - timedelta(days=1), first=FIRST - timedelta(days=3))], 0)
    labels = {"source": "gauges", "tenant": NO_TENANT}
    assert value("meterflow_writer_newest_reading_timestamp_seconds", **labels) == newest.timestamp()
    assert value("meterflow_writer_newest_landed_timestamp_seconds", **labels) == LANDED.timestamp()


def test_a_message_without_a_landing_time_is_not_counted_in_the_sli() -> None:
    landed_before = value("meterflow_writer_landed_readings_total")
    observe_committed([message("old-producer", 3, None)], LANDED.timestamp())
    assert value("meterflow_writer_landed_readings_total") == landed_before
    newest = value("meterflow_writer_newest_reading_timestamp_seconds", source="old-producer", tenant=NO_TENANT)
    assert newest == (FIRST + timedelta(minutes=30)).timestamp()
