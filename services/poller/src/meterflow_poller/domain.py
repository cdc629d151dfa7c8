"""Pure poller logic: what to publish, who owns which key, and how an object is cut into chunks."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from meterflow_contracts import Checkpoint


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    etag: str
    size: int


@dataclass(slots=True)
class Plan:
    new: list[ObjectInfo] = field(default_factory=list)
    changed: list[ObjectInfo] = field(default_factory=list)
    skipped: list[ObjectInfo] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def to_publish(self) -> list[ObjectInfo]:
        return [*self.new, *self.changed]


def owns(key: str, index: int, count: int) -> bool:
    """Split the key space between poller instances by a stable hash, so that each object has exactly
    one owner in a cycle without any coordination between instances."""
    return count == 1 or zlib.crc32(key.encode()) % count == index


def plan(listed: Iterable[ObjectInfo], checkpoints: dict[str, Checkpoint]) -> Plan:
    """Classify listed objects against the checkpoints: a new ETag means a changed object."""
    result = Plan()
    seen: set[str] = set()
    for obj in listed:
        seen.add(obj.key)
        done = checkpoints.get(obj.key)
        if done is None:
            result.new.append(obj)
        elif done.etag != obj.etag:
            result.changed.append(obj)
        else:
            result.skipped.append(obj)
    result.deleted = sorted(key for key in checkpoints if key not in seen)
    return result


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    record_start: int
    records: list[Any]


def chunk_records(
    records: Iterable[Any], bytes_read: Callable[[], int], max_records: int, max_bytes: int
) -> Iterator[Chunk]:
    """Cut a stream of records into chunks bounded by record count and by source bytes consumed.

    ``bytes_read`` reports how far the parser has read, a cheap proxy for the records' encoded size.
    """
    buffer: list[Any] = []
    start = 0
    index = 0
    mark = bytes_read()
    for record in records:
        buffer.append(record)
        if len(buffer) >= max_records or bytes_read() - mark >= max_bytes:
            yield Chunk(index, start, buffer)
            start += len(buffer)
            index += 1
            buffer = []
            mark = bytes_read()
    if buffer:
        yield Chunk(index, start, buffer)
