"""The writer under faults, against real Kafka and PostgreSQL: SIGKILL mid-stream, a PostgreSQL restart under
load, an object delivered twice and then corrected. Each test ends by comparing the whole table with the
source: exactly one row per distinct reading, every value equal to the latest delivery, and the channels
table equal to a recomputation from the readings (no crash or retry counts a row twice)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from channel_truth import assert_channels_match_readings
from integration.writer.writer_processes import metric, readiness
from meterflow_contracts import ReadingBatch
from meterflow_harness.kafka import GroupProbe
from meterflow_harness.paths import REPO
from meterflow_harness.waiting import eventually
from readings_io import assert_table_equals, count_rows, expected_rows, produce_readings, stream

pytestmark = pytest.mark.reliability

# Smaller transactions than the default: more commits, so each kill lands between and inside them.
SMALL_BATCHES = {"WRITER_BATCH_MAX_ROWS": "20000"}


def group_of(topics: Any) -> str:
    return f"writer-{topics.readings}"


def corrected(batch: ReadingBatch, every: int = 1, etag: str = "etag-2") -> tuple[ReadingBatch, int]:
    """The same readings from a corrected object (new etag): every ``every``-th value changed. Returns the
    message and how many readings changed."""
    readings = [(ts, v + 1000.0 if i % every == 0 else v, q) for i, (ts, v, q) in enumerate(batch.readings)]
    source = batch.source.model_copy(update={"etag": etag})
    return batch.model_copy(update={"readings": readings, "source": source}), len(range(0, len(readings), every))


async def test_sigkill_mid_stream_three_times(servers: Any, topics: Any, database: str, writers: Any) -> None:
    base = stream(messages=150, per_message=2_000)  # 300,000 readings
    # Corrections of early series at the end of their partitions: a replay after a kill must re-apply them
    # after the originals, never leave an original value behind.
    corrections = [corrected(batch)[0] for batch in base[:10]]
    batches = base + corrections
    await produce_readings(servers.kafka, topics.readings, batches)
    expected = expected_rows(batches)
    total = len(expected)
    assert total == 300_000

    for kill in (1, 2, 3):
        writer = writers(f"writer-{kill}", **SMALL_BATCHES)
        target = total * kill // 4

        async def reached(target: int = target) -> bool:
            return await count_rows(database) >= target

        await eventually(reached, 120, f"{target} rows before kill {kill}", alive=[writer], interval=0.05)
        written = await count_rows(database)
        writer.kill()
        assert written < total, f"kill {kill} came after the stream was written: nothing left to recover"

    final = writers("writer-final", **SMALL_BATCHES)
    async with GroupProbe(servers.kafka, group_of(topics), topics.readings) as probe:
        await eventually(probe.caught_up, 180, "the last writer to commit everything", alive=[final])
    await assert_table_equals(database, expected)
    await assert_channels_match_readings(database)


async def test_postgres_restart_under_load(servers: Any, topics: Any, database: str, writers: Any) -> None:
    writer = writers(WRITER_RETRY_MAX_S="2", **SMALL_BATCHES)

    async def assigned() -> bool:
        return metric(writer, "meterflow_writer_assigned_partitions") == 6

    await eventually(assigned, 60, "the writer to get its partitions", alive=[writer])
    batches = stream(messages=100, per_message=2_000)  # 200,000 readings
    await produce_readings(servers.kafka, topics.readings, batches)

    async def loading() -> bool:
        return await count_rows(database) >= 40_000

    await eventually(loading, 60, "the load to be under way", alive=[writer], interval=0.05)
    statuses: list[int] = []
    restart = await asyncio.create_subprocess_exec("bash", "infra/timescale/pg.sh", "restart", cwd=REPO)
    while restart.returncode is None:
        statuses.append(readiness(writer))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(restart.wait(), 0.05)
    assert restart.returncode == 0, "pg.sh restart failed"
    written_before_recovery = await count_rows(database)

    async def ready_again() -> bool:
        statuses.append(readiness(writer))
        return statuses[-1] == 200

    await eventually(ready_again, 60, "the writer to report ready again", alive=[writer], interval=0.05)
    assert 503 in statuses, f"the writer never reported not-ready during the restart: {sorted(set(statuses))}"
    async with GroupProbe(servers.kafka, group_of(topics), topics.readings) as probe:
        await eventually(probe.caught_up, 120, "the writer to commit everything", alive=[writer])
    await assert_table_equals(database, expected_rows(batches))
    await assert_channels_match_readings(database)
    # Recovered in the same process, by retrying: never restarted, and the outage was seen.
    writer.assert_running()
    assert metric(writer, "meterflow_writer_retries_total") >= 1
    assert written_before_recovery < 200_000, "the restart came after the load: it tested nothing"
    assert readiness(writer) == 200


async def test_same_object_twice_then_a_corrected_object(
    servers: Any, topics: Any, database: str, writers: Any
) -> None:
    writer = writers()

    async def assigned() -> bool:
        return metric(writer, "meterflow_writer_assigned_partitions") == 6

    await eventually(assigned, 60, "the writer to get its partitions", alive=[writer])
    original = stream(messages=12, per_message=1_000, meters=6)  # one object of 12,000 readings
    await produce_readings(servers.kafka, topics.readings, [*original, *original])  # ingested twice
    async with GroupProbe(servers.kafka, group_of(topics), topics.readings) as probe:
        await eventually(probe.caught_up, 60, "the writer to commit both copies", alive=[writer])
        await assert_table_equals(database, expected_rows(original))
        assert await count_rows(database) == 12_000
        assert metric(writer, "meterflow_writer_rows_inserted_total") == 12_000
        assert metric(writer, "meterflow_writer_rows_changed_total") == 0

        fixes = [corrected(batch, every=7) for batch in original]
        changed = sum(n for _, n in fixes)
        await produce_readings(servers.kafka, topics.readings, [batch for batch, _ in fixes])
        await eventually(probe.caught_up, 60, "the writer to commit the correction", alive=[writer])
    await assert_table_equals(database, expected_rows([*original, *(batch for batch, _ in fixes)]))
    assert await count_rows(database) == 12_000
    assert sum(c[9] for c in await assert_channels_match_readings(database)) == 12_000
    assert metric(writer, "meterflow_writer_rows_changed_total") == changed
    assert metric(writer, "meterflow_writer_rows_inserted_total") == 12_000
