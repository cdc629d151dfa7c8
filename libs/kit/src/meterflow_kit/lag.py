"""Consumer lag of a whole group, read from the broker with public client APIs: the group's committed
offsets (admin client) against the partitions' end offsets.

For consumers whose client does not expose what it committed (Faust): any process can export it.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client import Gauge

from meterflow_kit.consumer import described_partitions
from meterflow_kit.settings import KafkaSettings


class GroupLagExporter:
    """Sets ``gauge{topic, partition}`` to end offset minus the group's committed offset (the whole end
    offset where the group has committed nothing yet) for every partition of ``topics``."""

    def __init__(self, kafka: KafkaSettings, group_id: str, topics: Sequence[str], gauge: Gauge) -> None:
        self._group_id = group_id
        self._topics = list(topics)
        self._gauge = gauge
        self._admin = AIOKafkaAdminClient(**kafka.client_options())
        # Group-less: it only asks for end offsets and never joins or commits anything.
        self._ends = AIOKafkaConsumer(**kafka.client_options(), group_id=None)

    async def start(self) -> None:
        await self._admin.start()
        await self._ends.start()

    async def stop(self) -> None:
        await self._ends.stop()
        await self._admin.close()

    async def export(self) -> None:
        """Read both offsets once and set the gauge (raises aiokafka's KafkaError when the broker fails)."""
        partitions = await self.partitions()
        if not partitions:
            return
        ends = await self._ends.end_offsets(partitions)
        committed = await self._admin.list_consumer_group_offsets(self._group_id, partitions=partitions)
        for tp in partitions:
            meta = committed.get(tp)
            done = meta.offset if meta is not None and meta.offset >= 0 else 0
            self._gauge.labels(topic=tp.topic, partition=str(tp.partition)).set(max(0, ends[tp] - done))

    async def partitions(self) -> list[TopicPartition]:
        return await described_partitions(self._admin, self._topics)
