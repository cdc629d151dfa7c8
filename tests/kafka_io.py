"""Reading and writing test topics with plain aiokafka clients (no consumer group)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition


async def produce(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes | None]]) -> int:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    count = 0
    try:
        for key, value in messages:
            await producer.send(topic, value, key=key)
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The topic's partitions; metadata of a topic this client has not seen yet is fetched first."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def read_all(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message currently in the topic, from the beginning to the end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        records: list[ConsumerRecord[bytes, bytes]] = []
        while True:
            positions = {tp: await consumer.position(tp) for tp in tps}
            if all(positions[tp] >= end[tp] for tp in tps):
                return records
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()


async def read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    timeout: float,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Re-read the topic until ``done`` holds for its messages, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_all(bootstrap, topic)
        if done(records):
            return records
        if time.monotonic() > deadline:
            raise AssertionError(f"{topic}: condition not met after {timeout:.0f} s ({len(records)} messages)")
        await asyncio.sleep(0.5)
