"""Kafka topics of a test or benchmark run, with plain aiokafka clients: producing messages, reading a
topic whole (no consumer group), deleting topics, and how far a consumer group is behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from meterflow_harness.waiting import WaitTimedOut

Message = tuple[bytes | None, bytes | None]  # (key, value)


async def produce(bootstrap: str, topic: str, messages: Iterable[Message]) -> int:
    """Send every (key, value) and wait until each is acknowledged by all replicas; returns the count."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    try:
        deliveries = [await producer.send(topic, value, key=key) for key, value in messages]
        await producer.flush()
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
    return len(deliveries)


async def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


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
    """Re-read the topic until ``done`` holds for its messages, or WaitTimedOut after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        records = await read_all(bootstrap, topic)
        if done(records):
            return records
        if time.monotonic() > deadline:
            raise WaitTimedOut(f"{topic}: condition not met after {timeout:.0f} s ({len(records)} messages)")
        await asyncio.sleep(0.5)


class GroupProbe:
    """How far a consumer group's committed offsets are behind the end of a topic (``async with``)."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self._group = group
        self._topic = topic
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self._partitions: list[TopicPartition] = []

    async def __aenter__(self) -> GroupProbe:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def behind(self) -> int:
        if not self._partitions:
            (described,) = await self._admin.describe_topics([self._topic])
            self._partitions = [TopicPartition(self._topic, p["partition"]) for p in described["partitions"]]
        assert self._partitions, f"topic {self._topic} has no partitions"
        tps = self._partitions
        ends = await self._consumer.end_offsets(tps)
        committed = await self._admin.list_consumer_group_offsets(self._group, partitions=tps)
        total = 0
        for tp in tps:
            done = committed.get(tp)
            total += ends[tp] - (done.offset if done is not None and done.offset >= 0 else 0)
        return total

    async def caught_up(self) -> bool:
        return await self.behind() == 0
