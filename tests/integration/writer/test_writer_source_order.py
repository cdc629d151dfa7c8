"""Source order (issue 12, item 5): a stored reading is replaced only by a version that is not older, the
version being (the object's S3 LastModified, the record's index in the object). The real writer, fed
straight on its readings topic in the "wrong" order: newer data first, then what it corrected."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from integration.writer.writer_processes import metric
from meterflow_contracts import ReadingBatch
from meterflow_harness.kafka import GroupProbe
from meterflow_harness.messages import reading_batch
from meterflow_harness.waiting import eventually
from readings_io import START, assert_table_equals, expected_rows, produce_readings

pytestmark = pytest.mark.integration

MUID = uuid.UUID("5f0c3a55-0000-4000-8000-000000000001")
OBIS = "1-0:1.29.0*255"
ORIGINAL = datetime(2023, 3, 1, 8, tzinfo=UTC)
CORRECTED = datetime(2023, 3, 2, 8, tzinfo=UTC)
LATER = datetime(2023, 3, 3, 8, tzinfo=UTC)
N = 96


def version(
    values: list[float], key: str, modified: datetime | None, first_record: int = 0, start: datetime = START
) -> ReadingBatch:
    """One message of ``values`` from object ``key`` last modified at ``modified`` (None: no version)."""
    made = reading_batch(MUID, OBIS, start, values, key=key, etag=f"etag-{key}")
    if modified is None:
        return made
    source = made.source.model_copy(update={"last_modified": modified})
    indexes = list(range(first_record, first_record + len(values)))
    return made.model_copy(update={"source": source, "record_indexes": indexes})


async def caught_up(servers: Any, topics: Any, writer: Any) -> None:
    async with GroupProbe(servers.kafka, f"writer-{topics.readings}", topics.readings) as probe:
        await eventually(probe.caught_up, 60, "the writer to commit everything", alive=[writer])


async def stored_versions(dsn: str) -> set[tuple[datetime | None, int | None]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT DISTINCT source_modified, source_record FROM readings")
    finally:
        await conn.close()
    return {(r["source_modified"], r["source_record"]) for r in rows}


async def test_a_correction_beats_the_original_whatever_the_order_of_arrival(
    servers: Any, topics: Any, database: str, writers: Any
) -> None:
    original = version([1.0] * N, "meters/a.json", ORIGINAL)
    correction = version([2.0] * N, "meters/a-corrected.json", CORRECTED)
    # In one writer batch: the correction first, the original after it.
    await produce_readings(servers.kafka, topics.readings, [correction, original])
    writer = writers()
    await caught_up(servers, topics, writer)
    await assert_table_equals(database, expected_rows([correction]))

    # The original again, alone in a later transaction (the staging upsert path): it changes nothing.
    await produce_readings(servers.kafka, topics.readings, [original])
    await caught_up(servers, topics, writer)
    await assert_table_equals(database, expected_rows([correction]))
    assert metric(writer, "meterflow_writer_rows_changed_total") == 0
    assert {m for m, _ in await stored_versions(database)} == {CORRECTED}

    # A newer upload still wins, in either transaction shape.
    later = version([3.0] * N, "meters/a-again.json", LATER)
    await produce_readings(servers.kafka, topics.readings, [later])
    await caught_up(servers, topics, writer)
    await assert_table_equals(database, expected_rows([later]))
    assert metric(writer, "meterflow_writer_rows_changed_total") == N


async def test_an_older_or_unversioned_message_never_overwrites_a_newer_one(
    servers: Any, topics: Any, database: str, writers: Any
) -> None:
    newest = version([5.0] * N, "meters/b.json", CORRECTED)
    await produce_readings(servers.kafka, topics.readings, [newest])
    writer = writers()
    await caught_up(servers, topics, writer)

    older = version([4.0] * N, "meters/b-old.json", ORIGINAL)
    unversioned = version([6.0] * N, "meters/b-legacy.json", None)
    await produce_readings(servers.kafka, topics.readings, [older])
    await caught_up(servers, topics, writer)
    await produce_readings(servers.kafka, topics.readings, [unversioned])
    await caught_up(servers, topics, writer)
    await produce_readings(servers.kafka, topics.readings, [older, unversioned])
    await caught_up(servers, topics, writer)
    await assert_table_equals(database, expected_rows([newest]))
    assert metric(writer, "meterflow_writer_rows_changed_total") == 0


async def test_the_later_record_of_the_same_object_wins(servers: Any, topics: Any, database: str, writers: Any) -> None:
    # Two chunks of one object hold the same readings with other values: records 500.. come after 0...
    early = version([7.0] * N, "meters/c.json", ORIGINAL, first_record=0)
    late = version([8.0] * N, "meters/c.json", ORIGINAL, first_record=500)
    await produce_readings(servers.kafka, topics.readings, [late])
    writer = writers()
    await caught_up(servers, topics, writer)
    await produce_readings(servers.kafka, topics.readings, [early])
    await caught_up(servers, topics, writer)
    await assert_table_equals(database, expected_rows([late]))
    assert {r for _, r in await stored_versions(database)} == set(range(500, 500 + N))


async def test_the_same_value_under_a_newer_version_moves_the_version_on(
    servers: Any, topics: Any, database: str, writers: Any
) -> None:
    """Otherwise a version between the stored one and the newest could still overwrite the newest value."""
    first = version([1.0] * N, "meters/d.json", ORIGINAL)
    same_newer = version([1.0] * N, "meters/d-reupload.json", LATER)
    between = version([9.0] * N, "meters/d-between.json", CORRECTED)
    writer = writers()
    for message in (first, same_newer, between):
        await produce_readings(servers.kafka, topics.readings, [message])
        await caught_up(servers, topics, writer)
    await assert_table_equals(database, expected_rows([same_newer]))
    assert {m for m, _ in await stored_versions(database)} == {LATER}
    # Only the version moved: no value changed, so nothing counts as a correction.
    assert metric(writer, "meterflow_writer_rows_changed_total") == 0


async def test_two_transactions_in_flight_keep_the_kafka_order_of_equal_versions(
    servers: Any, topics: Any, database: str, writers: Any
) -> None:
    """With two writes in flight (WRITER_WRITE_CONCURRENCY, the default), a batch that may hold a reading of
    the batch before it waits for it: between unversioned deliveries, the last one in Kafka order wins.
    Batches of one message each; the other meter's days share no reading with them and go alongside."""
    other = uuid.UUID("5f0c3a55-0000-4000-8000-000000000002")
    deliveries = [version([float(n)] * N, f"meters/e-{n}.json", None) for n in range(1, 13)]
    alongside = [
        reading_batch(other, OBIS, START + timedelta(days=day), [0.5] * N, key=f"meters/f-{day}.json")
        for day in range(12)
    ]
    await produce_readings(
        servers.kafka, topics.readings, [m for pair in zip(deliveries, alongside, strict=True) for m in pair]
    )
    writer = writers(WRITER_BATCH_MAX_ROWS=str(N), WRITER_WRITE_CONCURRENCY="2")
    await caught_up(servers, topics, writer)
    await assert_table_equals(database, expected_rows([deliveries[-1], *alongside]))
    # The fault this test is about happened: later deliveries were taken while an earlier one was in flight.
    assert metric(writer, "meterflow_writer_ordered_writes_total") >= 1
