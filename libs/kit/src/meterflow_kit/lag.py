"""Consumer lag of a whole group, read from the broker with public client APIs: the group's committed
offsets (admin client) against the partitions' end offsets, and the time lag: the broker timestamp of the
oldest message the group has not processed yet (the one at its committed offset).

For consumers whose client does not expose what it committed (Faust): any process can export it. The
time lag is exported as a timestamp, not as an age, on purpose: when the exporting process dies the last
value stays in Prometheus (``last_over_time``) and ``time() - it`` keeps growing, so a dead consumer's
time lag rises instead of vanishing (it may overstate a dead consumer's lag, never understate it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from meterflow_kit.consumer import described_partitions
from meterflow_kit.lifecycle import sleep_or_stop
from meterflow_kit.settings import KafkaSettings

log = structlog.get_logger("meterflow.kit.lag")

# How long one export waits for the oldest unprocessed message of the lagging partitions.
OLDEST_FETCH_TIMEOUT_S = 2.0


class GroupLagExporter:
    """Sets ``gauge{topic, partition}`` to end offset minus the group's committed offset (the whole end
    offset where the group has committed nothing yet) for every partition of ``topics``, and
    ``oldest{topic}`` to the timestamp (Unix seconds) of the oldest unprocessed message of the topic, or
    to now when nothing waits. Either gauge may be None (the writer exports the messages itself)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        gauge: Gauge | None,
        oldest: Gauge | None = None,
    ) -> None:
        self._group_id = group_id
        self._topics = list(topics)
        self._gauge = gauge
        self._oldest = oldest
        self._admin = AIOKafkaAdminClient(**kafka.client_options())
        # Group-less: it only asks for end offsets and reads single messages; it never joins or commits.
        self._ends = AIOKafkaConsumer(
            **kafka.client_options(),
            group_id=None,
            enable_auto_commit=False,
            # It reads one message per lagging partition: fetch little (the broker sends a larger one whole).
            max_partition_fetch_bytes=64 * 1024,
        )

    async def start(self) -> None:
        await self._admin.start()
        await self._ends.start()

    async def stop(self) -> None:
        await self._ends.stop()
        await self._admin.close()

    async def export(self) -> None:
        """Read the offsets once and set the gauges (raises aiokafka's KafkaError when the broker fails)."""
        partitions = await self.partitions()
        if not partitions:
            return
        ends = await self._ends.end_offsets(partitions)
        committed = await self._admin.list_consumer_group_offsets(self._group_id, partitions=partitions)
        positions: dict[TopicPartition, int] = {}
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            positions[tp] = done
            if self._gauge is not None:
                self._gauge.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, ends[tp] - done))
        if self._oldest is not None:
            await self.export_oldest(self._oldest, {tp: at for tp, at in positions.items() if at < ends[tp]})

    async def export_oldest(self, gauge: Gauge, waiting: dict[TopicPartition, int]) -> None:
        now = time.time()
        oldest = await self.oldest_timestamps(waiting)
        for topic in self._topics:
            stamps = [stamp for tp, stamp in oldest.items() if tp.topic == topic]
            gauge.labels(topic=topic).set(min(stamps, default=now))

    async def oldest_timestamps(self, waiting: dict[TopicPartition, int]) -> dict[TopicPartition, float]:
        """The broker timestamp (seconds) of the message at each partition's given offset (the next one
        present there when retention or compaction removed it)."""
        if not waiting:
            return {}
        self._ends.assign(list(waiting))
        for tp, offset in waiting.items():
            self._ends.seek(tp, offset)
        found: dict[TopicPartition, float] = {}
        deadline = time.monotonic() + OLDEST_FETCH_TIMEOUT_S
        while len(found) < len(waiting) and time.monotonic() < deadline:
            missing = [tp for tp in waiting if tp not in found]
            batches = await self._ends.getmany(*missing, timeout_ms=200, max_records=len(missing))
            for tp, records in batches.items():
                if records and tp not in found:
                    found[tp] = records[0].timestamp / 1000
        self._ends.unsubscribe()  # no background fetching between exports
        return found

    async def partitions(self) -> list[TopicPartition]:
        return await described_partitions(self._admin, self._topics)


async def export_lag_forever(exporter: GroupLagExporter, interval_s: float, stop: asyncio.Event | None = None) -> None:
    """Export every ``interval_s`` until ``stop`` is set (or the task is cancelled); broker failures are
    logged and tried again at the next round."""
    started = False
    try:
        while stop is None or not stop.is_set():
            try:
                if not started:
                    await exporter.start()
                    started = True
                await exporter.export()
            except KafkaError as error:
                log.warning("consumer lag not exported", error=repr(error))
            if stop is None:
                await asyncio.sleep(interval_s)
            else:
                await sleep_or_stop(stop, interval_s)
    finally:
        if started:
            await exporter.stop()
