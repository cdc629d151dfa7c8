"""meterflow_kit.lag against a real broker: a group's lag in messages and its time lag (the broker
timestamp of the oldest message it has not committed), read with public client APIs only."""

from __future__ import annotations

import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from meterflow_harness.pipeline import Topics
from meterflow_harness.servers import Servers
from meterflow_kit.lag import GroupLagExporter
from meterflow_kit.settings import KafkaSettings
from prometheus_client import CollectorRegistry, Gauge

pytestmark = pytest.mark.integration

# Broker timestamps of the five messages (CreateTime, set by the producer), in ms: minutes apart, recent
# (within any retention).
STAMPS_MS = [int(time.time() * 1000) - 600_000 + i * 60_000 for i in range(5)]


async def produce_stamped(bootstrap: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for stamp in STAMPS_MS:
            await producer.send_and_wait(topic, b"x", key=b"k", partition=0, timestamp_ms=stamp)
    finally:
        await producer.stop()


async def commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


async def test_the_time_lag_is_the_timestamp_of_the_oldest_uncommitted_message(
    servers: Servers, topics: Topics
) -> None:
    registry = CollectorRegistry()
    lag = Gauge("lag_messages", "", ["topic", "partition"], registry=registry)
    oldest = Gauge("oldest_unprocessed", "", ["topic"], registry=registry)
    group = f"lag-test-{uuid.uuid4().hex[:8]}"
    tp = TopicPartition(topics.raw, 0)
    await produce_stamped(servers.kafka, topics.raw)
    await commit(servers.kafka, group, tp, 2)
    exporter = GroupLagExporter(KafkaSettings(bootstrap_servers=servers.kafka), group, [topics.raw], lag, oldest)
    await exporter.start()
    try:
        await exporter.export()
        assert registry.get_sample_value("lag_messages", {"topic": topics.raw, "partition": "0"}) == 3
        assert registry.get_sample_value("oldest_unprocessed", {"topic": topics.raw}) == STAMPS_MS[2] / 1000

        await commit(servers.kafka, group, tp, len(STAMPS_MS))
        before = time.time()
        await exporter.export()
        assert registry.get_sample_value("lag_messages", {"topic": topics.raw, "partition": "0"}) == 0
        assert (registry.get_sample_value("oldest_unprocessed", {"topic": topics.raw}) or 0) >= before
    finally:
        await exporter.stop()
