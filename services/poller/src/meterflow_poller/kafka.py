"""Kafka adapter of the poller: raw batches and dead letters out, checkpoints in and out, and the
leader election (a consumer group on the checkpoint topic)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from meterflow_contracts import Checkpoint, DeadLetter, RawBatch
from meterflow_kit.backoff import MeterflowError

from meterflow_poller.domain import Leadership, apply_checkpoint_record, checkpoint_key

log = structlog.get_logger("meterflow.poller.kafka")


class KafkaStateError(MeterflowError):
    """The checkpoint topic could not be read (missing, or the broker did not answer in time)."""

    retriable = True


class Publisher:
    """Idempotent producer with acks from all in-sync replicas."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            max_request_size=4 * 1024 * 1024,
            linger_ms=5,
            # lz4 costs a fraction of gzip's CPU (gzip was a third of the poller's time) for a similar
            # ratio on repetitive JSON records.
            compression_type="lz4",
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
        key = checkpoint_key(checkpoint.bucket, checkpoint.key).encode()
        await self._producer.send_and_wait(topic, checkpoint.model_dump_json().encode(), key=key)

    async def forget_checkpoint(self, topic: str, bucket: str, key: str) -> None:
        """A tombstone: compaction drops the checkpoint of an object that no longer exists."""
        await self._producer.send_and_wait(topic, None, key=checkpoint_key(bucket, key).encode())


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic) or set()
    if not partitions:
        # Metadata may not be loaded yet for a topic this client has never seen.
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def load_checkpoints(bootstrap: str, topic: str, bucket: str, timeout_s: float = 120.0) -> dict[str, str]:
    """Read the compacted checkpoint topic from the start to its current end: object key -> ETag of
    the version last published completely, for ``bucket``. Any instance can do this, so the poller
    keeps no local state; only ETags are kept, so a million checkpoints stay small."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        client_id=f"meterflow-poller-checkpoints-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            raise missing_topic(topic)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        checkpoints: dict[str, str] = {}
        deadline = time.monotonic() + timeout_s
        while await behind_end(consumer, end):
            if time.monotonic() > deadline:
                raise KafkaStateError(f"reading checkpoint topic {topic!r} took longer than {timeout_s:.0f} s")
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    apply_checkpoint_record(checkpoints, bucket, record.key, record.value)
        return checkpoints
    finally:
        await consumer.stop()


def missing_topic(topic: str) -> KafkaStateError:
    return KafkaStateError(f"checkpoint topic {topic!r} does not exist: create it or set POLLER_CHECKPOINT_TOPIC")


async def behind_end(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return True
    return False


class Election(ConsumerRebalanceListener):  # type: ignore[misc]
    """Leader election through a Kafka consumer group on the one-partition checkpoint topic.

    The member that is assigned the partition leads. The group coordinator replaces a leader that stops
    heartbeating (after ``session_timeout_ms``) or leaves (at once, on a clean shutdown); the sticky
    assignor keeps the partition with its holder when another instance joins, so scaling out or a
    rolling deploy does not interrupt the leader. The consumer never reads: its partition stays paused,
    and a background task only keeps calling ``getmany`` so the member counts as alive.
    """

    def __init__(self, bootstrap: str, topic: str, group_id: str, session_timeout_ms: int) -> None:
        self.state = Leadership()
        self.changed = asyncio.Event()
        self._topic = topic
        self._group_id = group_id
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=f"meterflow-poller-{uuid.uuid4().hex[:8]}",
            enable_auto_commit=False,
            auto_offset_reset="latest",
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(1_000, session_timeout_ms // 5),
            partition_assignment_strategy=(StickyPartitionAssignor,),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        if not await topic_partitions(self._consumer, self._topic):
            await self._consumer.stop()
            raise missing_topic(self._topic)
        self._consumer.subscribe([self._topic], listener=self)
        self._task = asyncio.create_task(self._keep_alive(), name="poller-election")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Leaving the group hands leadership over at once instead of after the session timeout.
        await self._consumer.stop()
        self.state.left()
        self.changed.set()

    async def _keep_alive(self) -> None:
        while True:
            try:
                await self._consumer.getmany(timeout_ms=1000)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the coordinator retries by itself; report and go on
                log.warning("election consumer error", error=repr(error))
                await asyncio.sleep(1)

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.state.revoked()
        self.changed.set()

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        was_leading = self.state.leading
        self.state.assigned(bool(assigned))
        if assigned:
            self._consumer.pause(*assigned)
        if self.state.leading != was_leading:
            log.info("leadership changed", leading=self.state.leading, term=self.state.term, group=self._group_id)
        elif self.state.leading:
            log.info("leadership kept across a rebalance", term=self.state.term, group=self._group_id)
        self.changed.set()

    async def wait_settled(self) -> None:
        """Return once no rebalance is in progress (publishing pauses while one is)."""
        while not self.state.settled:
            self.changed.clear()
            if self.state.settled:
                return
            await self.changed.wait()


class SoleLeader:
    """Election switched off (POLLER_ELECTION=false): this instance always leads."""

    def __init__(self) -> None:
        self.state = Leadership.sole()
        self.changed = asyncio.Event()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def wait_settled(self) -> None:
        return None
