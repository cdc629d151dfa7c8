"""Bad input never blocks a bucket, against moto's S3 server and a real broker: a record too large for a
raw message, a topic that refuses the poller's messages, numbers no double holds, and a listing that
comes back empty for one poll."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from conftest import Pollers
from meterflow_contracts import RAW
from meterflow_harness.pipeline import Topics
from meterflow_harness.servers import Servers
from poller_runs import checkpoint_log, covered_indices, dead_letters, document, latest_checkpoints, raw_batches, record

pytestmark = pytest.mark.integration


def json_document(records: list[dict[str, Any]]) -> bytes:
    return json.dumps({"data": records}).encode()


@pytest.mark.parametrize("path", ["whole", "streamed"])
async def test_a_record_too_large_for_a_message_is_dead_lettered_and_the_rest_lands(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers, path: str
) -> None:
    huge = {**record(4), "pad": "x" * (RAW.max_message_bytes + 1000)}
    records = [huge if i == 4 else record(i) for i in range(10)]
    s3.put_object(Bucket=bucket, Key="1-huge.json", Body=json_document(records))
    s3.put_object(Bucket=bucket, Key="2-next.json", Body=document(30))

    whole = str(16 * 1024 * 1024 if path == "whole" else 0)
    pollers.once(POLLER_WHOLE_OBJECT_MAX_BYTES=whole, POLLER_OBJECTS_IN_FLIGHT="1")

    (letter,) = await dead_letters(servers.kafka, topics.dlq)
    assert letter.reason.value == "record_too_large"
    assert letter.stage == "poller"
    assert letter.source is not None
    assert (letter.source.key, letter.source.record_start, letter.source.record_end) == ("1-huge.json", 4, 5)
    assert isinstance(letter.record, str)
    assert len(letter.record.encode()) <= 4096
    # The evidence is the record as the poller holds it: the source's own bytes on the whole-object path,
    # the parsed record written again (compact) when streamed; the message gives that size.
    as_held = json.dumps(huge) if path == "whole" else json.dumps(huge, separators=(",", ":"))
    assert letter.record == as_held[:4096]
    assert str(len(as_held)) in letter.message
    batches = await raw_batches(servers.kafka, topics.raw)
    assert covered_indices(batches, "1-huge.json") == set(range(10)) - {4}
    assert covered_indices(batches, "2-next.json") == set(range(30))
    checkpoints = await latest_checkpoints(servers.kafka, topics.checkpoints)
    assert {f"{bucket}/1-huge.json", f"{bucket}/2-next.json"} <= set(checkpoints)
    assert checkpoints[f"{bucket}/1-huge.json"].records == 9


async def test_a_topic_that_refuses_the_messages_blocks_no_object_after_it(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    """The broker refuses messages over the raw topic's max.message.bytes for good (not retriable): the
    object is dead-lettered and checkpointed, and the smaller objects after it land."""
    admin = AIOKafkaAdminClient(bootstrap_servers=servers.kafka)
    await admin.start()
    try:
        limit = {"max.message.bytes": "20000"}
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topics.raw, configs=limit)])
    finally:
        await admin.close()
    s3.put_object(Bucket=bucket, Key="1-big.json", Body=document(5_000))  # ~750 KB: one message, refused
    for n in range(2, 5):
        s3.put_object(Bucket=bucket, Key=f"{n}-small.json", Body=document(20))

    pollers.once(POLLER_OBJECTS_IN_FLIGHT="4")

    letters = await dead_letters(servers.kafka, topics.dlq)
    assert [(d.reason.value, d.record["key"]) for d in letters] == [("record_too_large", "1-big.json")]
    assert "max.message.bytes" in letters[0].message
    batches = await raw_batches(servers.kafka, topics.raw)
    for n in range(2, 5):
        assert covered_indices(batches, f"{n}-small.json") == set(range(20))
    checkpoints = await latest_checkpoints(servers.kafka, topics.checkpoints)
    assert set(checkpoints) == {f"{bucket}/{n}-{'big' if n == 1 else 'small'}.json" for n in range(1, 5)}


async def test_a_number_no_double_holds_passes_in_its_record_on_the_whole_object_path(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    """The poller does not read values on this path: 1e400 is valid JSON, so its record travels as the source
    wrote it, and the normalizer rejects that one reading (tests/unit/normalizer: non_finite_value)."""
    body = document(12).replace(b'"0100011D00FF": 0.0003}', b'"0100011D00FF": 1e400}')
    assert body.count(b"1e400") == 1
    s3.put_object(Bucket=bucket, Key="overflow.json", Body=body)

    pollers.once(POLLER_WHOLE_OBJECT_MAX_BYTES="4194304", POLLER_CHUNK_MAX_RECORDS="5")

    batches = await raw_batches(servers.kafka, topics.raw)
    assert covered_indices(batches, "overflow.json") == set(range(12))
    assert not await dead_letters(servers.kafka, topics.dlq)


async def test_a_number_no_double_holds_rejects_only_its_record_when_streamed(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    body = document(12).replace(b'"0100011D00FF": 0.0003}', b'"0100011D00FF": 1e400}')
    assert body.count(b"1e400") == 1
    s3.put_object(Bucket=bucket, Key="overflow.json", Body=body)
    s3.put_object(Bucket=bucket, Key="z-next.json", Body=document(5))

    pollers.once(POLLER_WHOLE_OBJECT_MAX_BYTES="0", POLLER_CHUNK_MAX_RECORDS="5")

    (letter,) = await dead_letters(servers.kafka, topics.dlq)
    assert letter.reason.value == "non_finite_value"
    assert letter.source is not None
    assert (letter.source.record_start, letter.source.record_end) == (3, 4)
    assert "1e400" in letter.record.lower().replace("+", "")  # the number as text (the parsers differ in case)
    batches = await raw_batches(servers.kafka, topics.raw)
    assert covered_indices(batches, "overflow.json") == set(range(12)) - {3}
    assert covered_indices(batches, "z-next.json") == set(range(5))


async def test_an_empty_listing_tombstones_nothing_and_nothing_is_published_again(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    bodies = {f"m{n}.json": document(10 + n) for n in range(3)}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    pollers.once()
    raw_before = len(await raw_batches(servers.kafka, topics.raw))
    log_before = await checkpoint_log(servers.kafka, topics.checkpoints)

    for key in bodies:  # the bucket lists empty for one poll
        s3.delete_object(Bucket=bucket, Key=key)
    empty = pollers.once()
    assert "the listing is empty although checkpoints exist" in empty.log_path.read_text()
    assert await checkpoint_log(servers.kafka, topics.checkpoints) == log_before

    for key, body in bodies.items():  # and then lists them again, unchanged
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    pollers.once()

    assert len(await raw_batches(servers.kafka, topics.raw)) == raw_before
    assert await checkpoint_log(servers.kafka, topics.checkpoints) == log_before


async def test_a_record_nested_too_deep_to_encode_is_dead_lettered_and_the_rest_lands(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    deep = "[" * 3000 + "]" * 3000
    records = [json.dumps(record(i)) for i in range(6)]
    records[2] = records[2][:-1] + f', "nested": {deep}}}'
    s3.put_object(Bucket=bucket, Key="deep.json", Body=('{"data": [' + ", ".join(records) + "]}").encode())
    s3.put_object(Bucket=bucket, Key="z-next.json", Body=document(5))

    pollers.once()

    (letter,) = await dead_letters(servers.kafka, topics.dlq)
    assert letter.reason.value == "unexpected_error"
    assert letter.source is not None
    assert (letter.source.key, letter.source.record_start, letter.source.record_end) == ("deep.json", 2, 3)
    assert "cannot be encoded" in letter.message
    batches = await raw_batches(servers.kafka, topics.raw)
    assert covered_indices(batches, "deep.json") == set(range(6)) - {2}
    assert covered_indices(batches, "z-next.json") == set(range(5))
