"""Kafka adapter of the poller: raw batches and dead letters out, checkpoints in and out, and the
leader election (a consumer group on the checkpoint topic). Messages go through the topics' codecs."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from meterflow_contracts import CHECKPOINTS, DLQ, RAW, Checkpoint, DeadLetter, checkpoint_key
from meterflow_kit.consumer import GroupConsumer, partitions_of
from meterflow_kit.settings import KafkaSettings
from meterflow_kit.tracing import Headers, trace_headers

from meterflow_poller.domain import Leadership, apply_checkpoint_record, generation_key, parse_generation
from meterflow_poller.errors import KafkaStateError

log = structlog.get_logger("meterflow.poller.kafka")


class Publisher:
    """Idempotent producer with acks from all in-sync replicas."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._producer = AIOKafkaProducer(
            **kafka.client_options(),
            acks="all",
            enable_idempotence=True,
            max_request_size=RAW.max_message_bytes,
            linger_ms=5,
            # zstd by measurement (docs/kafka.md): aiokafka compresses lz4 at level 9, which took 2.8 ms and
            # 26 KB for a 435 KB raw message; zstd 0.75 ms and 15 KB. (gzip was a third of the poller's time.)
            compression_type="zstd",
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_raw(
        self, topic: str, message: tuple[bytes, bytes], headers: Headers | None = None
    ) -> asyncio.Future[object]:
        """Queue a raw batch encoded by ``RAW.serialize`` (key, value) with ``headers`` (its trace); the
        returned future resolves when the broker acknowledged it."""
        key, value = message
        future: asyncio.Future[object] = await self._producer.send(topic, value, key=key, headers=headers)
        return future

    async def send_dead_letter(self, topic: str, dead: DeadLetter) -> None:
        key, value = DLQ.serialize(dead)
        await self._producer.send_and_wait(topic, value, key=key, headers=trace_headers(dead.source))

    async def send_checkpoint(self, topic: str, checkpoint: Checkpoint) -> None:
        key, value = CHECKPOINTS.serialize(checkpoint)
        await self._producer.send_and_wait(topic, value, key=key)

    async def send_record(self, topic: str, key: bytes, value: bytes) -> None:
        """A record of no topic codec (the leader generation, fencing.py), acknowledged on return."""
        await self._producer.send_and_wait(topic, value, key=key)

    async def forget_checkpoint(self, topic: str, bucket: str, key: str) -> None:
        """A tombstone: compaction drops the checkpoint of an object that no longer exists."""
        await self._producer.send_and_wait(topic, None, key=checkpoint_key(bucket, key).encode())


async def read_to_end(
    kafka: KafkaSettings,
    topic: str,
    what: str,
    on_record: Callable[[bytes | None, bytes | None], None],
    timeout_s: float = 120.0,
) -> None:
    """Read ``topic`` from its start to its current end with a group-less consumer, in offset order, calling
    ``on_record(key, value)`` for each record; ``what`` names the reading in the client id and errors."""
    tps = await partitions_of(kafka, [topic])
    if not tps:
        raise missing_topic(topic)
    consumer = AIOKafkaConsumer(
        **kafka.client_options(),
        enable_auto_commit=False,
        group_id=None,
        client_id=f"meterflow-poller-{what}-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while await behind_end(consumer, end):
            if time.monotonic() > deadline:
                raise KafkaStateError(f"reading topic {topic!r} for the {what} took longer than {timeout_s:.0f} s")
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    on_record(record.key, record.value)
    finally:
        await consumer.stop()


async def load_checkpoints(
    kafka: KafkaSettings, topic: str, bucket: str, group_id: str, timeout_s: float = 120.0
) -> dict[str, str]:
    """Read the compacted checkpoint topic from the start to its current end: object key -> ETag of
    the version last published completely, for ``bucket``. Any instance can do this, so the poller
    keeps no local state; only ETags are kept, so a million checkpoints stay small. The records of the
    election group ``group_id``'s leader generation are followed in offset order, so that a checkpoint
    a stale leader wrote after its successor took over is ignored."""
    checkpoints: dict[str, str] = {}
    own_generation_key, generation = generation_key(group_id), 0

    def fold(key: bytes | None, value: bytes | None) -> None:
        nonlocal generation
        if key == own_generation_key:
            generation = parse_generation(value)
        else:
            apply_checkpoint_record(checkpoints, bucket, key, value, generation)

    await read_to_end(kafka, topic, "checkpoints", fold, timeout_s)
    return checkpoints


def missing_topic(topic: str) -> KafkaStateError:
    return KafkaStateError(f"checkpoint topic {topic!r} does not exist: create it or set POLLER_CHECKPOINT_TOPIC")


async def behind_end(consumer: AIOKafkaConsumer, end: dict[TopicPartition, int]) -> bool:
    for tp, offset in end.items():
        if await consumer.position(tp) < offset:
            return True
    return False


class Election:
    """Leader election through a Kafka consumer group on the one-partition checkpoint topic.

    The member that is assigned the partition leads. The group coordinator replaces a leader that stops
    heartbeating (after the session timeout) or leaves (at once, on a clean shutdown); the sticky
    assignor keeps the partition with its holder when another instance joins, so scaling out or a
    rolling deploy does not interrupt the leader. The member never reads: its partition stays paused,
    and a background task only keeps fetching so the member counts as alive.
    """

    def __init__(self, kafka: KafkaSettings, topic: str, group_id: str) -> None:
        self.state = Leadership()
        self.changed = asyncio.Event()
        self._group_id = group_id
        self._member = GroupConsumer(
            kafka,
            topic,
            group_id,
            heartbeats_per_session=5,
            client_id=f"meterflow-poller-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="latest",
            partition_assignment_strategy=(StickyPartitionAssignor,),
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self._member.start(on_revoked=self._on_revoked, on_assigned=self._on_assigned, require_topic=True)
        except LookupError:
            raise missing_topic(self._member.topic) from None
        self._task = asyncio.create_task(self._keep_alive(), name="poller-election")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Leaving the group hands leadership over at once instead of after the session timeout.
        await self._member.stop()
        self.state.left()
        self.changed.set()

    async def _keep_alive(self) -> None:
        while True:
            try:
                await self._member.fetch(timeout_s=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the coordinator retries by itself; report and go on
                log.warning("election consumer error", error=repr(error))
                await asyncio.sleep(1)

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        self.state.revoked()
        self.changed.set()

    async def _on_assigned(self, assigned: set[TopicPartition]) -> None:
        was_leading = self.state.leading
        self.state.assigned(bool(assigned))
        if assigned:
            self._member.pause(assigned)
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
