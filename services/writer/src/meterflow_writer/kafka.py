"""Kafka adapter of the writer: the readings consumer (manual commits, rebalance hook) and the DLQ producer."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from meterflow_contracts import DeadLetter

from meterflow_writer import metrics

log = structlog.get_logger("meterflow.writer.kafka")

OnRevoked = Callable[[set[tuple[str, int]]], Awaitable[None]]


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: ReadingsConsumer, on_revoked: OnRevoked) -> None:
        self._owner = consumer
        self._on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        # aiokafka waits for this before it rejoins the group: the batch being written finishes and
        # commits here, so no other writer gets these partitions while we still write them.
        await self._on_revoked({(tp.topic, tp.partition) for tp in revoked})
        for tp in revoked:
            self._owner.forget(tp)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        metrics.ASSIGNED_PARTITIONS.set(len(assigned))
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in assigned))


class ReadingsConsumer:
    def __init__(self, bootstrap: str, topic: str, group_id: str, session_timeout_ms: int = 10_000) -> None:
        self._topic = topic
        self._committed: dict[TopicPartition, int] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # A batch may wait through a PostgreSQL outage before the next poll.
            max_poll_interval_ms=15 * 60 * 1000,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=max(1000, session_timeout_ms // 3),
            # The other members wait this long for our revocation callback (it finishes a write).
            rebalance_timeout_ms=60_000,
            # Bounded prefetch: at most this much raw data waits in memory beside the decoded batches.
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=16 * 1024 * 1024,
        )

    async def start(self, on_revoked: OnRevoked) -> None:
        self._consumer.subscribe([self._topic], listener=_Listener(self, on_revoked))
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def fetch(self, timeout_s: float, max_records: int) -> list[ConsumerRecord[bytes, bytes]]:
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        return [record for records in batches.values() for record in records]

    async def commit(self, offsets: dict[tuple[str, int], int]) -> bool:
        """Commit offsets of rows that are durable. Partitions no longer assigned are left out (their new
        owner re-reads from its last commit, and the idempotent upsert makes that harmless); after a
        rebalance the broker may refuse the commit altogether, with the same harmless effect."""
        assigned = self._consumer.assignment()
        wanted = {TopicPartition(t, p): o for (t, p), o in offsets.items()}
        owned = {tp: o for tp, o in wanted.items() if tp in assigned}
        if not owned:
            return not wanted
        try:
            await self._consumer.commit(owned)
        except (CommitFailedError, IllegalStateError) as error:
            log.warning("offset commit refused after a rebalance", error=str(error))
            return False
        except KafkaError as error:
            # The rows are durable; the next batch's commit carries these partitions' offsets further.
            log.warning("offset commit failed", error=repr(error))
            return False
        self._committed.update(owned)
        return len(owned) == len(wanted)

    def forget(self, tp: TopicPartition) -> None:
        self._committed.pop(tp, None)
        with contextlib.suppress(KeyError):  # no lag exported yet for it
            metrics.CONSUMER_LAG.remove(tp.topic, str(tp.partition))

    async def export_lag(self) -> None:
        """Lag per partition: from the partition end to what this writer made durable (or, before its
        first commit, to where it reads)."""
        for tp in self._consumer.assignment():
            highwater = self._consumer.highwater(tp)
            if highwater is None:
                continue
            done = self._committed.get(tp)
            if done is None:
                try:
                    done = await self._consumer.position(tp)
                except (KafkaError, IllegalStateError):
                    continue
            metrics.CONSUMER_LAG.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, highwater - done))


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
