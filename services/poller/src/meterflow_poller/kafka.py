"""Kafka adapter of the poller: raw batches and dead letters out, checkpoints in and out."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from meterflow_contracts import Checkpoint, DeadLetter, RawBatch
from pydantic import ValidationError


class Publisher:
    """Idempotent producer with acks from all in-sync replicas."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            max_request_size=4 * 1024 * 1024,
            linger_ms=5,
            compression_type="gzip",
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_raw(self, topic: str, batch: RawBatch) -> asyncio.Future[object]:
        """Queue a raw batch; the returned future resolves when the broker acknowledged it."""
        future: asyncio.Future[object] = await self._producer.send(
            topic, batch.model_dump_json().encode(), key=batch.source.key.encode()
        )
        return future

    async def send_dead_letter(self, topic: str, key: str, dead: DeadLetter) -> None:
        await self._producer.send_and_wait(topic, dead.model_dump_json().encode(), key=key.encode())

    async def send_checkpoint(self, topic: str, checkpoint: Checkpoint) -> None:
        key = f"{checkpoint.bucket}/{checkpoint.key}".encode()
        await self._producer.send_and_wait(topic, checkpoint.model_dump_json().encode(), key=key)

    async def forget_checkpoint(self, topic: str, bucket: str, key: str) -> None:
        """A tombstone: compaction drops the checkpoint of an object that no longer exists."""
        await self._producer.send_and_wait(topic, None, key=f"{bucket}/{key}".encode())


async def load_checkpoints(bootstrap: str, topic: str, bucket: str) -> dict[str, Checkpoint]:
    """Read the compacted checkpoint topic from the start to its current end: the latest checkpoint
    per object of ``bucket`` wins. Any instance can do this, so the poller keeps no local state."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        client_id=f"meterflow-poller-checkpoints-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            # Metadata may not be loaded yet for a topic this client has never seen.
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            raise RuntimeError(f"checkpoint topic {topic!r} does not exist")
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        checkpoints: dict[str, Checkpoint] = {}
        prefix = f"{bucket}/"
        while await behind_end(consumer, end):
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    apply_checkpoint_record(checkpoints, prefix, record.key, record.value)
        return checkpoints
    finally:
        await consumer.stop()


def apply_checkpoint_record(
    checkpoints: dict[str, Checkpoint], prefix: str, key: bytes | None, value: bytes | None
) -> None:
    if key is None:
        return
    text = key.decode("utf-8", "replace")
    if not text.startswith(prefix):
        return
    object_key = text[len(prefix) :]
    if value is None:
        checkpoints.pop(object_key, None)
        return
    try:
        checkpoints[object_key] = Checkpoint.model_validate_json(value)
    except ValidationError:
        # An unreadable checkpoint only means the object is published again: safe, never lossy.
        checkpoints.pop(object_key, None)


async def behind_end(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return True
    return False
