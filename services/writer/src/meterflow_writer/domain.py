"""Pure batching logic: typed reading batches -> rows for one database transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from meterflow_contracts import ReadingBatch

Row = tuple[UUID, str, datetime, float, str]


@dataclass(slots=True)
class PendingBatch:
    """Readings buffered for one transaction, with the Kafka offsets they came from."""

    rows: list[Row] = field(default_factory=list)
    messages: list[ReadingBatch] = field(default_factory=list)
    # topic-partition -> next offset to commit once the rows are durable
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    started_at: float | None = None

    def add(self, batch: ReadingBatch, topic: str, partition: int, offset: int, now: float) -> None:
        if self.started_at is None:
            self.started_at = now
        self.messages.append(batch)
        self.rows.extend(rows_of(batch))
        self.offsets[(topic, partition)] = offset + 1

    def note_offset(self, topic: str, partition: int, offset: int, now: float) -> None:
        """A message that carried no rows (it went to the DLQ) still moves the offset on."""
        if self.started_at is None:
            self.started_at = now
        self.offsets[(topic, partition)] = offset + 1

    def is_due(self, now: float, max_rows: int, max_seconds: float) -> bool:
        if self.started_at is None:
            return False
        return len(self.rows) >= max_rows or now - self.started_at >= max_seconds

    def __len__(self) -> int:
        return len(self.rows)


def rows_of(batch: ReadingBatch) -> list[Row]:
    muid, obis = batch.muid, batch.obis
    return [(muid, obis, ts, value, quality) for ts, value, quality in batch.readings]


def unique_rows(rows: list[Row]) -> list[Row]:
    """One row per (muid, obis, ts), the latest delivery winning: an upsert may touch a row only once,
    and a replayed or corrected object can bring the same key twice into one transaction."""
    latest: dict[tuple[UUID, str, datetime], Row] = {}
    for row in rows:
        latest[(row[0], row[1], row[2])] = row
    return list(latest.values()) if len(latest) != len(rows) else rows
