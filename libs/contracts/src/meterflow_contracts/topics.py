"""Topic declarations: the single place that names each topic, its partitions and its model."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from meterflow_contracts.models import Checkpoint, DeadLetter, RawBatch, ReadingBatch

MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    model: type[BaseModel]
    key: str
    compacted: bool = False

    def config(self) -> dict[str, str]:
        """Topic-level configs to create the topic with."""
        # Producers allow 4 MiB requests; the broker's 1 MiB default would refuse a full raw chunk.
        limits = {"max.message.bytes": str(MAX_MESSAGE_BYTES)}
        if self.compacted:
            return {**limits, "cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
        return {**limits, "retention.ms": str(7 * 24 * 3600 * 1000)}


RAW = TopicSpec("meter.raw.v1", partitions=4, model=RawBatch, key="source object key")
READINGS = TopicSpec("meter.readings.v1", partitions=6, model=ReadingBatch, key="muid")
DLQ = TopicSpec("meter.readings.dlq.v1", partitions=1, model=DeadLetter, key="source object key")
CHECKPOINTS = TopicSpec("meter.poller.checkpoints.v1", partitions=1, model=Checkpoint, key="bucket/key", compacted=True)
ALL_TOPICS: tuple[TopicSpec, ...] = (RAW, READINGS, DLQ, CHECKPOINTS)
