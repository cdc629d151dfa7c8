"""One way to consume: a consumer-group member whose offsets are committed only after the caller's
durable work, with a rebalance hook that lets the work in flight finish, and the lag gauge.

The writer loads readings with it; the poller's leader election is a member of a group too (it never
reads or commits: it only holds its partition). Only public aiokafka APIs are used.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from prometheus_client import Gauge

from meterflow_kit.settings import KafkaSettings

log = structlog.get_logger("meterflow.kit.consumer")

PartitionsHook = Callable[[set[TopicPartition]], Awaitable[None]]


async def _nothing(_: set[TopicPartition]) -> None:
    return None


class GroupConsumer:
    """A member of ``group_id`` subscribed to ``topic``, auto-commit off.

    ``on_revoked`` runs before the member rejoins the group: aiokafka waits for it (up to the rebalance
    timeout), so a caller that finishes and commits its work there never has two members writing the
    same partition. ``client_options`` go to AIOKafkaConsumer as they are (assignor, fetch sizes, ...).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        topic: str,
        group_id: str,
        *,
        lag: Gauge | None = None,
        heartbeats_per_session: int = 3,
        **client_options: Any,
    ) -> None:
        self.topic = topic
        self._lag = lag
        self._committed: dict[TopicPartition, int] = {}
        options: dict[str, Any] = {
            "auto_offset_reset": "earliest",
            "session_timeout_ms": kafka.session_timeout_ms,
            "heartbeat_interval_ms": max(1000, kafka.session_timeout_ms // heartbeats_per_session),
            **client_options,
        }
        self._consumer = AIOKafkaConsumer(
            **kafka.client_options(), group_id=group_id, enable_auto_commit=False, **options
        )

    async def start(
        self,
        on_revoked: PartitionsHook = _nothing,
        on_assigned: PartitionsHook = _nothing,
        *,
        require_topic: bool = False,
    ) -> None:
        """Connect and join the group. With ``require_topic`` a missing topic raises LookupError instead
        of being waited for."""
        await self._consumer.start()
        if require_topic and self.topic not in await self._consumer.topics():
            await self._consumer.stop()
            raise LookupError(f"topic {self.topic!r} does not exist")
        self._consumer.subscribe([self.topic], listener=_Listener(self, on_revoked, on_assigned))

    async def stop(self) -> None:
        """Leave the group: its partitions move to the other members at once."""
        await self._consumer.stop()

    async def fetch(self, timeout_s: float, max_records: int | None = None) -> list[ConsumerRecord[bytes, bytes]]:
        """The next records of the assigned partitions, waiting at most ``timeout_s`` for some."""
        batches = await self._consumer.getmany(timeout_ms=int(timeout_s * 1000), max_records=max_records)
        return [record for records in batches.values() for record in records]

    def pause(self, partitions: set[TopicPartition]) -> None:
        self._consumer.pause(*partitions)

    async def commit(self, offsets: dict[tuple[str, int], int]) -> bool:
        """Commit offsets of work that is durable. Partitions no longer assigned are left out (their new
        owner re-reads from its last commit, which the caller's idempotence makes harmless); after a
        rebalance the broker may refuse the commit altogether, with the same harmless effect.
        Returns True when every offset was committed."""
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
            # The work is durable; the next commit carries these partitions' offsets further.
            log.warning("offset commit failed", error=repr(error))
            return False
        self._committed.update(owned)
        return len(owned) == len(wanted)

    def forget(self, tp: TopicPartition) -> None:
        """The partition left this member: no lag of it is exported from here any more."""
        self._committed.pop(tp, None)
        if self._lag is not None:
            with contextlib.suppress(KeyError):  # no lag exported yet for it
                self._lag.remove(tp.topic, str(tp.partition))

    async def export_lag(self) -> None:
        """Lag per assigned partition: from the partition end to what this member made durable (or,
        before its first commit, to where it reads)."""
        if self._lag is None:
            return
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
            self._lag.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, highwater - done))


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: GroupConsumer, on_revoked: PartitionsHook, on_assigned: PartitionsHook) -> None:
        self._owner = owner
        self._on_revoked = on_revoked
        self._on_assigned = on_assigned

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._on_revoked(set(revoked))
        for tp in revoked:
            self._owner.forget(tp)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._on_assigned(set(assigned))


async def described_partitions(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of those of ``topics`` that exist, as the broker describes them now."""
    described = await admin.describe_topics(list(topics))
    return [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["error_code"] == 0
        for partition in sorted(topic["partitions"], key=lambda p: int(p["partition"]))
    ]


async def partitions_of(kafka: KafkaSettings, topics: Sequence[str]) -> list[TopicPartition]:
    """The partitions of those of ``topics`` that exist (a short-lived admin client asks the broker)."""
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await admin.start()
    try:
        return await described_partitions(admin, topics)
    finally:
        await admin.close()
