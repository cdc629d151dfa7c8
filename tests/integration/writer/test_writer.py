"""The writer against real Kafka and PostgreSQL, run as its console script on this test's topics and database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
import pytest
from channel_truth import recomputed_channels, stored_channels
from integration.writer.writer_processes import metric, readiness
from meterflow_contracts import DlqReason, ReadingBatch
from meterflow_harness.kafka import GroupProbe
from meterflow_harness.waiting import eventually
from readings_io import assert_table_equals, count_rows, expected_rows, produce_readings, read_dead_letters, stream

pytestmark = pytest.mark.integration


def group_of(topics: Any) -> str:
    return f"writer-{topics.readings}"


async def channels(dsn: str) -> list[tuple[Any, ...]]:
    """The channels table with each row's updated_at, after checking it equals a recomputation from readings."""
    conn = await asyncpg.connect(dsn)
    try:
        stored = await stored_channels(conn)
        assert stored == await recomputed_channels(conn)
        updated = await conn.fetch("SELECT updated_at FROM channels ORDER BY muid, obis")
    finally:
        await conn.close()
    return [(*row, u["updated_at"]) for row, u in zip(stored, updated, strict=True)]


async def ingested_at(dsn: str) -> dict[tuple[Any, ...], Any]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT muid, obis, ts, ingested_at FROM readings")
    finally:
        await conn.close()
    return {(r["muid"], r["obis"], r["ts"]): r["ingested_at"] for r in rows}


async def test_replay_is_idempotent(servers: Any, topics: Any, database: str, writers: Any) -> None:
    batches = stream(messages=30, per_message=1_000)
    await produce_readings(servers.kafka, topics.readings, batches)
    first = writers("first")
    async with GroupProbe(servers.kafka, group_of(topics), topics.readings) as probe:
        await eventually(probe.caught_up, 60, "the first writer to commit everything", alive=[first])
    await assert_table_equals(database, expected_rows(batches))
    assert metric(first, "meterflow_writer_rows_inserted_total") == 30_000
    assert metric(first, "meterflow_writer_rows_changed_total") == 0
    assert metric(first, "meterflow_writer_batch_rows_count") >= 1
    assert metric(first, "meterflow_writer_copy_duration_seconds_count") >= 1
    assert metric(first, "meterflow_writer_last_success_timestamp_seconds") > 0
    assert metric(first, "meterflow_writer_assigned_partitions") == 6
    assert readiness(first) == 200
    before = await ingested_at(database)
    channels_before = await channels(database)
    assert sum(c[9] for c in channels_before) == 30_000
    assert first.stop() == 0

    # A writer of another group reads the whole topic again: every row arrives a second time.
    replay = writers("replay", WRITER_GROUP_ID=f"replay-{topics.readings}")
    async with GroupProbe(servers.kafka, f"replay-{topics.readings}", topics.readings) as probe:
        await eventually(probe.caught_up, 60, "the replaying writer to commit everything", alive=[replay])
    await assert_table_equals(database, expected_rows(batches))
    assert metric(replay, "meterflow_writer_rows_total") == 30_000
    assert metric(replay, "meterflow_writer_rows_inserted_total") == 0
    assert metric(replay, "meterflow_writer_rows_changed_total") == 0
    # Not one row was rewritten (no dead tuples from a replay), and plain PostgreSQL gets no bucket marks.
    assert await ingested_at(database) == before
    assert await channels(database) == channels_before  # nor one channel row
    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM readings_dirty_buckets") == 0
    finally:
        await conn.close()
    lag = replay.metrics()
    assert "meterflow_writer_consumer_lag_messages{" in lag


def replace_reading(batch: ReadingBatch, index: int, reading: tuple[datetime, float, str]) -> ReadingBatch:
    readings = list(batch.readings)
    readings[index] = reading
    return batch.model_copy(update={"readings": readings})


async def test_rows_the_database_rejects_go_to_the_dlq(servers: Any, topics: Any, database: str, writers: Any) -> None:
    conn = await asyncpg.connect(database)
    try:
        # A rule the contract does not know: provokes a constraint violation from valid messages.
        await conn.execute("ALTER TABLE readings ADD CONSTRAINT test_value_not_4242 CHECK (value <> 4242.0)")
    finally:
        await conn.close()
    batches = stream(messages=10, per_message=500)
    # Two readings the contract and the writer's boundary check accept but the table cannot take: a CHECK
    # violation and a NUL character (PostgreSQL text cannot hold one); and an instant before year 1 in UTC,
    # which the boundary check refuses before the database sees it (timestamp_out_of_range).
    bad = {
        3: (batches[3].readings[17][0], 4242.0, "measured"),
        5: (datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))), 1.0, "measured"),
        7: (batches[7].readings[100][0], 1.0, "meas\x00ured"),
    }
    expected = expected_rows(batches)
    for index, position in ((3, 17), (5, 250), (7, 100)):
        del expected[(batches[index].muid, batches[index].obis, batches[index].readings[position][0])]
        batches[index] = replace_reading(batches[index], position, bad[index])
    not_a_batch = (b"meters/broken.json", b'{"schema_version": 1, "muid": "not-a-uuid"}')
    await produce_readings(servers.kafka, topics.readings, [*batches[:5], not_a_batch, *batches[5:]])

    writer = writers()
    async with GroupProbe(servers.kafka, group_of(topics), topics.readings) as probe:
        await eventually(probe.caught_up, 60, "the writer to commit everything", alive=[writer])
    await assert_table_equals(database, expected)
    assert await count_rows(database) == 5_000 - 3
    assert sum(c[9] for c in await channels(database)) == 5_000 - 3

    dead = await read_dead_letters(servers.kafka, topics.dlq, expected=4)
    assert sorted(d.reason for d in dead) == sorted(
        [DlqReason.DB_REJECTED] * 2 + [DlqReason.TIMESTAMP_OUT_OF_RANGE, DlqReason.INVALID_MESSAGE]
    )
    rejected = [d for d in dead if d.reason in (DlqReason.DB_REJECTED, DlqReason.TIMESTAMP_OUT_OF_RANGE)]
    # One dead letter per message, carrying only the rejected reading, with the message's source.
    assert all(d.stage == "writer" and len(d.record["readings"]) == 1 for d in rejected)
    by_key = {d.source.key: d for d in rejected if d.source is not None}
    assert by_key.keys() == {batches[i].source.key for i in bad}
    for index, reading in bad.items():
        letter = by_key[batches[index].source.key]
        ts, value, quality = letter.record["readings"][0]
        assert (datetime.fromisoformat(ts), value, quality) == reading
        assert letter.record["muid"] == str(batches[index].muid)
    assert "test_value_not_4242" in by_key[batches[3].source.key].message
    assert "timestamp before 2000-01-01" in by_key[batches[5].source.key].message
    assert "0x00" in by_key[batches[7].source.key].message
    assert metric(writer, "meterflow_writer_dlq_rows_total") == 3
    assert metric(writer, "meterflow_writer_dlq_records_total", 'reason="db_rejected"') == 2
    assert metric(writer, "meterflow_writer_dlq_records_total", 'reason="timestamp_out_of_range"') == 1
    assert metric(writer, "meterflow_writer_dlq_records_total", 'reason="invalid_message"') == 1


async def test_two_writers_share_the_partitions_and_one_survives_a_kill(
    servers: Any, topics: Any, database: str, writers: Any
) -> None:
    a = writers("a")
    b = writers("b")

    async def both_assigned() -> bool:
        shares = [metric(w, "meterflow_writer_assigned_partitions") for w in (a, b)]
        return sum(shares) == 6 and min(shares) > 0

    await eventually(both_assigned, 60, "both writers to get partitions", alive=[a, b])
    batches = stream(messages=100, per_message=2_000)
    await produce_readings(servers.kafka, topics.readings, batches)

    async def both_writing() -> bool:
        return all(metric(w, "meterflow_writer_rows_total") > 0 for w in (a, b))

    await eventually(both_writing, 60, "both writers to write", alive=[a, b], interval=0.05)
    written = await count_rows(database)
    assert written < 200_000, "the stream ended before the kill: nothing to take over"
    a.kill()
    async with GroupProbe(servers.kafka, group_of(topics), topics.readings) as probe:
        await eventually(probe.caught_up, 120, "the survivor to commit everything", alive=[b])
    await assert_table_equals(database, expected_rows(batches))

    # When the killed writer had committed its whole share already, the group is caught up before the
    # broker notices the death (session timeout): the takeover can come after.
    async def took_every_partition() -> bool:
        return metric(b, "meterflow_writer_assigned_partitions") == 6

    await eventually(took_every_partition, 60, "the survivor to take every partition", alive=[b])
    assert metric(b, "meterflow_writer_rebalances_total") >= 1


async def test_sigterm_finishes_the_batch_in_hand(servers: Any, topics: Any, database: str, writers: Any) -> None:
    # The batch can only end by rows or by a stop: a 2-minute time bound, far more rows than sent.
    writer = writers(WRITER_BATCH_MAX_S="120", WRITER_BATCH_MAX_ROWS="1000000")

    async def assigned() -> bool:
        return metric(writer, "meterflow_writer_assigned_partitions") == 6

    await eventually(assigned, 60, "the writer to get its partitions", alive=[writer])
    batches = stream(messages=20, per_message=1_000)
    await produce_readings(servers.kafka, topics.readings, batches)

    async def in_hand() -> bool:
        return metric(writer, "meterflow_writer_pending_rows") == 20_000

    await eventually(in_hand, 30, "the writer to hold every reading in its batch", alive=[writer])
    assert await count_rows(database) == 0
    assert writer.stop(timeout=30) == 0, writer.tail()
    await assert_table_equals(database, expected_rows(batches))
    async with GroupProbe(servers.kafka, group_of(topics), topics.readings) as probe:
        assert await probe.behind() == 0, "offsets of the finished batch were not committed"
    assert "batch written" in writer.tail(20)
