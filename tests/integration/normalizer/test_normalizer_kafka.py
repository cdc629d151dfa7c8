"""The normalizer as a real Faust worker on a real broker: typed batches out, bad records to the DLQ, no
reading lost when the worker is SIGKILLed in the middle of a stream, and no offset committed past a raw
message whose readings the broker refused."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from meterflow_contracts import DLQ, RAW, READINGS, READINGS_V2, RawBatch, SourcePosition
from meterflow_contracts.columnar import to_batch
from meterflow_harness.kafka import GroupProbe, produce, read_all, read_until
from meterflow_harness.metrics import metric_value
from meterflow_harness.pipeline import Topics
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import eventually, wait_until

pytestmark = pytest.mark.integration
START = datetime(2023, 2, 1, tzinfo=UTC)


def raw_message(key: str, chunk: int, records: list[Any]) -> tuple[bytes, bytes]:
    batch = RawBatch(
        source=SourcePosition(
            bucket="b", key=key, etag="e", chunk_index=chunk, record_start=chunk * 1000, record_end=chunk * 1000
        ),
        last_chunk=False,
        records=records,
        published_at=START,
    )
    return RAW.serialize(batch)


def meter_records(muid: str, first: int, count: int) -> list[dict[str, Any]]:
    return [
        {
            "measurement": "energy",
            "timestamp": (START + timedelta(minutes=15 * i)).isoformat().replace("+00:00", "Z"),
            "tags": {"muid": muid, "quality": "measured"},
            "0100011D00FF": round(i * 0.001, 4),
        }
        for i in range(first, first + count)
    ]


def readings_of(records: list[Any]) -> set[tuple[str, str, datetime, float]]:
    seen = set()
    for record in records:
        batch = READINGS.deserialize(record.value)
        for ts, value, _ in batch.readings:
            seen.add((str(batch.muid), batch.obis, ts, value))
    return seen


async def test_good_and_bad_records_of_one_batch(servers: Servers, topics: Topics, normalizer: Any) -> None:
    muid = str(uuid.uuid4())
    good = meter_records(muid, 0, 4)
    bad = [
        {"measurement": "energy", "timestamp": "2023-02-01T00:00:00Z", "tags": {"muid": "nope"}, "0100011D00FF": 1},
        {**good[0], "timestamp": "not a time"},
        {**good[1], "0100011D00FF": "NaN-ish"},
    ]
    await produce(servers.kafka, topics.raw, [raw_message("k1.json", 0, [*good, *bad]), (b"junk", b"{not json")])
    service = normalizer()

    dead = await read_until(servers.kafka, topics.dlq, lambda r: len(r) >= 4, timeout=60)
    reasons = sorted(DLQ.deserialize(r.value).reason.value for r in dead)
    assert reasons == ["invalid_message", "invalid_muid", "invalid_timestamp", "invalid_value"]
    assert {r.key for r in dead} == {b"k1.json", b"junk"}

    readings = await read_until(servers.kafka, topics.readings, lambda r: len(r) >= 1, timeout=30)
    assert [r.key for r in readings] == [muid.encode()]
    assert len(readings_of(readings)) == 4
    assert all(r.value and READINGS.deserialize(r.value).schema_version == 1 for r in readings)

    metrics = service.metrics()
    assert metric_value(metrics, "meterflow_normalizer_records_total") == 7
    assert metric_value(metrics, "meterflow_normalizer_readings_total") == 4
    assert metric_value(metrics, "meterflow_normalizer_dlq_records_total", 'reason="invalid_muid"') == 1
    assert metric_value(metrics, "meterflow_normalizer_dlq_records_total", 'reason="invalid_message"') == 1
    assert metric_value(metrics, "meterflow_normalizer_batch_duration_seconds_count") == 2


async def test_columns_on_v2_and_the_same_readings_on_v1(servers: Servers, topics: Topics, normalizer: Any) -> None:
    """The default contract, v2, with v1 also published (NORMALIZER_ALSO_V1_TOPIC): one message per meter and
    channel on each, holding the same readings; bad records still go to the DLQ once, with their reasons."""
    v2_topic = READINGS_V2.name + topics.suffix
    muid = str(uuid.uuid4())
    good = meter_records(muid, 0, 6)
    good[2]["tags"] = {**good[2]["tags"], "quality": "estimated"}
    bad = [{**good[0], "timestamp": "2023-02-01T00:07:00Z"}, {**good[1], "0100011D00FF": -1.0}]
    await produce(servers.kafka, topics.raw, [raw_message("k2.json", 0, [*good, *bad])])
    normalizer(NORMALIZER_READINGS_TOPIC=v2_topic, NORMALIZER_ALSO_V1_TOPIC=topics.readings)

    (v2,) = await read_until(servers.kafka, v2_topic, lambda r: len(r) >= 1, timeout=60)
    (v1,) = await read_until(servers.kafka, topics.readings, lambda r: len(r) >= 1, timeout=30)
    columns = READINGS_V2.deserialize(v2.value)
    assert (v2.key, v1.key) == (muid.encode(), muid.encode())
    assert columns.schema_version == 2 and columns.qualities == ["measured", "estimated"]
    assert columns.quality_codes == [0, 0, 1, 0, 0, 0]
    assert to_batch(columns) == READINGS.deserialize(v1.value)
    assert len(readings_of([v1])) == 6
    dead = await read_until(servers.kafka, topics.dlq, lambda r: len(r) >= 2, timeout=30)
    assert sorted(DLQ.deserialize(r.value).reason.value for r in dead) == ["negative_energy", "off_grid_timestamp"]


async def test_sigkill_mid_stream_loses_nothing(servers: Servers, topics: Topics, normalizer: Any) -> None:
    meters = [str(uuid.uuid4()) for _ in range(8)]
    per_chunk = 500
    chunks = 25  # per meter: 8 x 25 x 500 = 100,000 readings in 200 raw messages
    messages = [
        raw_message(f"{muid}.json", c, meter_records(muid, c * per_chunk, per_chunk))
        for c in range(chunks)
        for muid in meters
    ]
    await produce(servers.kafka, topics.raw, messages)
    expected = len(meters) * chunks * per_chunk

    for kill in (1, 2):
        worker = normalizer()

        def reached(worker: ServiceProcess = worker) -> bool:
            # The worker's own counter, scraped quickly: re-reading the topic is too slow to catch it mid-way.
            return metric_value(worker.metrics(), "meterflow_normalizer_readings_total") >= expected // 4

        # Let it get part of the way, then kill it without any chance to flush or commit.
        wait_until(reached, 120, f"a quarter of the readings published before kill {kill}", interval=0.02)
        worker.kill()
        # A dead worker publishes nothing more: what is on the topic now is what it got done.
        arrived = len(readings_of(await read_all(servers.kafka, topics.readings)))
        assert arrived < expected, f"kill {kill} came after the stream was normalized: nothing left to recover"
    normalizer()

    def complete(records: list[Any]) -> bool:
        return len(records) >= len(messages) and len(readings_of(records)) >= expected

    records = await read_until(servers.kafka, topics.readings, complete, timeout=180)
    readings = readings_of(records)
    assert len(readings) == expected  # every reading arrived (duplicates on the topic are allowed)
    assert {m for m, *_ in readings} == set(meters)
    assert not await read_all(servers.kafka, topics.dlq)


async def test_consumer_lag_comes_from_the_group_offsets(servers: Servers, topics: Topics, normalizer: Any) -> None:
    muid = str(uuid.uuid4())
    await produce(
        servers.kafka, topics.raw, [raw_message("k.json", c, meter_records(muid, c * 4, 4)) for c in range(3)]
    )
    service = normalizer(NORMALIZER_LAG_INTERVAL_S="0.2")
    await read_until(servers.kafka, topics.readings, lambda r: len(r) >= 3, timeout=60)
    lag = "meterflow_normalizer_consumer_lag_messages"

    def caught_up() -> bool:
        text = service.metrics()
        exported = {line.split("{")[1].split("}")[0] for line in text.splitlines() if line.startswith(lag + "{")}
        return len(exported) == 4 and metric_value(text, lag) == 0

    # Every partition of the raw topic is exported, and the lag reaches 0 once Faust committed.
    wait_until(caught_up, 60, "the lag of all four raw partitions exported and back to 0")
    assert f'topic="{topics.raw}"' in service.metrics()


def test_readiness_and_metrics_endpoints(normalizer: Any) -> None:
    import httpx

    service = normalizer()
    assert service.ops_url is not None
    wait_until(lambda: httpx.get(f"{service.ops_url}/readyz").status_code == 200, 60, "normalizer ready")
    assert json.loads(httpx.get(f"{service.ops_url}/healthz").text) == {"status": "ok"}
    assert "meterflow_normalizer_records_total" in service.metrics()


async def set_topic_config(bootstrap: str, topic: str, **config: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (response,) = await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs=config)])
        errors = [(code, message) for code, message, *_ in response.resources if code != 0]
        assert not errors, f"altering {topic}: {errors}"
    finally:
        await admin.close()


async def committed_offset(bootstrap: str, group: str, tp: TopicPartition) -> int:
    """The group's next offset to read on ``tp`` (-1 before its first commit)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    done = committed.get(tp)
    return done.offset if done is not None else -1


async def test_a_refused_send_holds_the_offset_until_the_broker_accepts(
    servers: Servers, topics: Topics, normalizer: Any
) -> None:
    muid = str(uuid.uuid4())
    # A few readings fit in 2,000 bytes; the 400 of the middle message make a batch the broker refuses.
    await set_topic_config(servers.kafka, topics.readings, **{"max.message.bytes": "2000"})
    sizes = [(0, 2), (2, 400), (402, 2)]
    await produce(
        servers.kafka,
        topics.raw,
        [raw_message("k.json", c, meter_records(muid, first, n)) for c, (first, n) in enumerate(sizes)],
    )
    first, refused, _ = await read_all(servers.kafka, topics.raw)
    assert first.partition == refused.partition  # one key, one partition, in order
    tp = TopicPartition(topics.raw, refused.partition)
    group = f"normalizer{topics.suffix}"
    service = normalizer()

    def retries() -> float:
        return metric_value(service.metrics(), "meterflow_normalizer_raw_batch_retries_total")

    # The first message is done and committed; the refused one is retried and its offset is never passed.
    async def committed_up_to_refused() -> bool:
        return await committed_offset(servers.kafka, group, tp) == refused.offset

    await eventually(committed_up_to_refused, 60, "the offset of the refused message committed", alive=[service])
    seen = retries()
    assert seen >= 1
    wait_until(lambda: retries() >= seen + 2, 60, "two more retries of the refused message")
    assert await committed_offset(servers.kafka, group, tp) == refused.offset
    assert len(readings_of(await read_all(servers.kafka, topics.readings))) == 2

    # Once the topic accepts the batch, the same worker delivers it and everything after it.
    await set_topic_config(servers.kafka, topics.readings, **{"max.message.bytes": str(1024 * 1024)})
    expected = readings_of_records(meter_records(muid, 0, 404))
    arrived = await read_until(servers.kafka, topics.readings, lambda r: readings_of(r) >= expected, timeout=120)
    assert readings_of(arrived) == expected
    async with GroupProbe(servers.kafka, group, topics.raw) as probe:
        await eventually(probe.caught_up, 60, "the whole raw topic committed", alive=[service])
    assert not await read_all(servers.kafka, topics.dlq)


async def test_a_worker_stopped_while_a_send_is_refused_exits_and_commits_nothing_of_it(
    servers: Servers, topics: Topics, normalizer: Any
) -> None:
    muid = str(uuid.uuid4())
    await set_topic_config(servers.kafka, topics.readings, **{"max.message.bytes": "2000"})
    await produce(servers.kafka, topics.raw, [raw_message("k.json", 0, meter_records(muid, 0, 400))])
    (refused,) = await read_all(servers.kafka, topics.raw)
    tp = TopicPartition(topics.raw, refused.partition)
    group = f"normalizer{topics.suffix}"
    service = normalizer()
    wait_until(
        lambda: metric_value(service.metrics(), "meterflow_normalizer_raw_batch_retries_total") >= 2,
        60,
        "the refused raw message retried",
    )

    # A stop does not wait for the message in hand (it would wait for good) and does not commit it.
    assert service.stop(timeout=30) == 0
    assert await committed_offset(servers.kafka, group, tp) <= refused.offset

    await set_topic_config(servers.kafka, topics.readings, **{"max.message.bytes": str(1024 * 1024)})
    normalizer()
    expected = readings_of_records(meter_records(muid, 0, 400))
    arrived = await read_until(servers.kafka, topics.readings, lambda r: readings_of(r) >= expected, timeout=120)
    assert readings_of(arrived) == expected


def readings_of_records(records: list[dict[str, Any]]) -> set[tuple[str, str, datetime, float]]:
    return {
        (r["tags"]["muid"], "1-0:1.29.0*255", datetime.fromisoformat(r["timestamp"]), r["0100011D00FF"])
        for r in records
    }
