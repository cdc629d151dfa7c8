"""Smoke test of the local broker against the project's Kafka clients (aiokafka and faust-streaming).

Run it against a running broker (``bash infra/kafka/kafka.sh start``)::

    uv run python infra/kafka/smoke.py            # KAFKA_BOOTSTRAP_SERVERS, default 127.0.0.1:9092

It proves the pinned Kafka version speaks every protocol API the pipeline relies on: topic creation
through the admin client, an idempotent acks=all producer, a consumer group with manual commits, and a
Faust agent (concurrency 1) that forwards one topic to another. Topics and groups are unique per run
and the topics are deleted at the end. Exit status 0 means every step passed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

log = logging.getLogger("meterflow.kafka.smoke")

MESSAGES = 1000
PARTITIONS = 3
STEP_TIMEOUT_S = 90.0


class SmokeError(Exception):
    """A step produced the wrong result (as opposed to a client raising)."""


async def create_topics(bootstrap: str, names: Iterable[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(name=name, num_partitions=PARTITIONS, replication_factor=1) for name in names]
        )
        described = await admin.describe_topics(list(names))
        for topic in described:
            if topic["error_code"] != 0 or len(topic["partitions"]) != PARTITIONS:
                raise SmokeError(f"topic {topic['topic']} not created as asked: {topic}")
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        pending = [
            await producer.send(topic, key=f"meter-{i % 17}".encode(), value=f"reading-{i}".encode())
            for i in range(MESSAGES)
        ]
        await producer.flush()
        metadata = await asyncio.gather(*pending)
        partitions = {record.partition for record in metadata}
        if len(partitions) != PARTITIONS:
            raise SmokeError(f"keys landed on partitions {sorted(partitions)}, expected {PARTITIONS}")
    finally:
        await producer.stop()


async def consume_all(bootstrap: str, topic: str, group: str) -> set[bytes]:
    """Read every message of `topic` in consumer group `group`, committing offsets by hand."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await consumer.start()
    seen: set[bytes] = set()
    try:
        deadline = time.monotonic() + STEP_TIMEOUT_S
        while len(seen) < MESSAGES:
            if time.monotonic() > deadline:
                raise SmokeError(f"consumed {len(seen)}/{MESSAGES} messages of {topic} in time")
            batches = await consumer.getmany(timeout_ms=1000, max_records=500)
            for records in batches.values():
                seen.update(record.value for record in records if record.value is not None)
            if batches:
                await consumer.commit()
        committed = 0
        for partition in range(PARTITIONS):
            offset = await consumer.committed(TopicPartition(topic, partition))
            committed += offset or 0
        if committed != MESSAGES:
            raise SmokeError(f"group {group} committed {committed} offsets on {topic}, expected {MESSAGES}")
    finally:
        await consumer.stop()
    return seen


async def run_faust_forwarder(bootstrap: str, source: str, sink: str, app_id: str, datadir: str) -> None:
    """Start a Faust app in this process whose single agent forwards `source` to `sink`."""
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=datadir,
        web_enabled=False,
        # the topics exist already, as in production: Faust must not need to create anything
        topic_allow_declare=False,
        topic_disable_leader=True,
        broker_commit_every=100,
        broker_commit_interval=1.0,
    )
    source_topic = app.topic(source, key_type=bytes, value_type=bytes, value_serializer="raw")
    sink_topic = app.topic(sink, key_serializer="raw", value_serializer="raw")

    @app.agent(source_topic, concurrency=1)
    async def forward(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            await sink_topic.send(key=event.key, value=event.value)

    await app.start()
    try:
        forwarded = await consume_all(bootstrap, sink, f"{app_id}-verify")
    finally:
        await asyncio.wait_for(app.stop(), timeout=30)
    expected = {f"reading-{i}".encode() for i in range(MESSAGES)}
    if forwarded != expected:
        raise SmokeError(f"faust forwarded {len(forwarded)} distinct messages, {len(expected - forwarded)} missing")
    committed = await group_committed(bootstrap, app_id)
    if committed != MESSAGES:
        raise SmokeError(f"faust group {app_id} committed {committed} source offsets, expected {MESSAGES}")


async def group_committed(bootstrap: str, group: str) -> int:
    """Sum of the offsets `group` has committed, over all its partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return sum(meta.offset for meta in offsets.values() if meta.offset >= 0)


async def main() -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    run_id = uuid.uuid4().hex[:8]
    source, sink = f"smoke.source.{run_id}", f"smoke.sink.{run_id}"
    started = time.monotonic()
    try:
        await create_topics(bootstrap, [source, sink])
        log.info("created topics %s and %s with %d partitions", source, sink, PARTITIONS)
        await produce(bootstrap, source)
        log.info("produced %d messages (idempotent, acks=all)", MESSAGES)
        seen = await consume_all(bootstrap, source, f"smoke-group-{run_id}")
        if len(seen) != MESSAGES:
            raise SmokeError(f"consumed {len(seen)} distinct messages, expected {MESSAGES}")
        log.info("consumed %d messages in a consumer group with manual commits", len(seen))
        with tempfile.TemporaryDirectory(prefix="faust-smoke-") as datadir:
            await run_faust_forwarder(bootstrap, source, sink, f"meterflow-smoke-{run_id}", datadir)
        log.info("faust agent forwarded %d messages %s -> %s", MESSAGES, source, sink)
    except Exception:
        log.exception("smoke test FAILED against %s", bootstrap)
        return 1
    finally:
        try:
            await delete_topics(bootstrap, [source, sink])
        except Exception as error:  # cleanup must not hide the verdict
            log.warning("could not delete smoke topics: %r", error)
    log.info("smoke test passed against %s in %.1fs", bootstrap, time.monotonic() - started)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Faust and aiokafka are chatty at INFO; their warnings and errors still show
    for noisy in ("faust", "mode", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sys.exit(asyncio.run(main()))
