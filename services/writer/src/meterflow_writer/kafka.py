"""Kafka adapter of the writer: the readings consumer (manual commits) and the DLQ producer."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from meterflow_contracts import DeadLetter

from meterflow_writer import metrics


class ReadingsConsumer:
    def __init__(self, bootstrap: str, topic: str, group_id: str) -> None:
        self._consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A batch may wait through a PostgreSQL outage before its offsets are committed.
            max_poll_interval_ms=15 * 60 * 1000,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def fetch(self, timeout_s: float, max_records: int) -> list[ConsumerRecord[bytes, bytes]]:
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        return [record for records in batches.values() for record in records]

    async def commit(self, offsets: dict[tuple[str, int], int]) -> bool:
        """Commit offsets of rows that are durable. After a rebalance the commit may be refused:
        the rows are written idempotently, so the new owner re-reading them does no harm."""
        if not offsets:
            return True
        try:
            await self._consumer.commit({TopicPartition(t, p): o for (t, p), o in offsets.items()})
        except (CommitFailedError, IllegalStateError):
            return False
        return True

    async def export_lag(self) -> None:
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            try:
                position = await self._consumer.position(tp)
            except (KafkaError, IllegalStateError):
                continue
            metrics.CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, highwater - position))


class DeadLetterProducer:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self._topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, max_request_size=4 * 1024 * 1024
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, key: str, dead: DeadLetter) -> None:
        await self._producer.send_and_wait(self._topic, dead.model_dump_json().encode(), key=key.encode())
