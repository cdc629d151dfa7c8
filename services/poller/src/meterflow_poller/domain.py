"""Pure poller logic, no I/O: what to publish, how a source document is parsed and cut into chunks,
which checkpoint records count, and whether this instance may publish (leadership)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, BinaryIO

import ijson
import orjson
from meterflow_contracts import CHECKPOINTS, Checkpoint, DeadLetter, DlqReason, SourcePosition

from meterflow_poller.errors import MalformedObject

# How much of a parser error message goes into a dead letter.
_EXCERPT = 400


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    # S3 LastModified: with a record's index, the version of the readings it holds (docs/writer.md).
    last_modified: datetime | None = None


class Outcome(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    SKIPPED = "skipped"


def normalize_prefixes(prefixes: Iterable[str]) -> list[str]:
    """Drop prefixes covered by a shorter one (and duplicates): overlapping prefixes would list, and
    so publish, the same object twice in one poll."""
    kept: list[str] = []
    for prefix in sorted(set(prefixes)):
        if not any(prefix.startswith(shorter) for shorter in kept):
            kept.append(prefix)
    return kept or [""]


def under_prefixes(key: str, prefixes: Iterable[str]) -> bool:
    return any(key.startswith(prefix) for prefix in prefixes)


class Planner:
    """Classifies listed objects one by one against the checkpoints (object key -> ETag of the version
    last published completely): no checkpoint means new, another ETag means changed, the same ETag means
    skipped. Whatever checkpoint is never matched by a listed object belongs to a deleted object.

    Working object by object lets the poller publish while it is still listing, and holds no listing.
    Only checkpoints under ``prefixes`` take part: an object outside them was not listed, not deleted.
    """

    def __init__(self, checkpoints: Mapping[str, str], prefixes: Iterable[str] = ("",)) -> None:
        prefixes = list(prefixes)
        self._unseen = {key: etag for key, etag in checkpoints.items() if under_prefixes(key, prefixes)}

    def classify(self, obj: ObjectInfo) -> Outcome:
        """Call once per listed object: S3 lists a key once, and configured prefixes never overlap
        (``normalize_prefixes``). Holds only the checkpoints not matched yet."""
        etag = self._unseen.pop(obj.key, None)
        if etag is None:
            return Outcome.NEW
        return Outcome.SKIPPED if etag == obj.etag else Outcome.CHANGED

    def deleted(self) -> list[str]:
        """Checkpointed keys no listed object matched; call once the listing is complete."""
        return sorted(self._unseen)


@dataclass(slots=True)
class Plan:
    new: list[ObjectInfo] = field(default_factory=list)
    changed: list[ObjectInfo] = field(default_factory=list)
    skipped: list[ObjectInfo] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def to_publish(self) -> list[ObjectInfo]:
        return [*self.new, *self.changed]


def plan(listed: Iterable[ObjectInfo], checkpoints: Mapping[str, str], prefixes: Iterable[str] = ("",)) -> Plan:
    """The whole plan of a poll at once (the poller uses ``Planner`` page by page)."""
    planner = Planner(checkpoints, prefixes)
    result = Plan()
    buckets = {Outcome.NEW: result.new, Outcome.CHANGED: result.changed, Outcome.SKIPPED: result.skipped}
    for obj in listed:
        buckets[planner.classify(obj)].append(obj)
    result.deleted = planner.deleted()
    return result


@dataclass(frozen=True, slots=True)
class Chunk:
    index: int
    record_start: int
    records: list[Any]
    source_bytes: int = 0

    @property
    def record_end(self) -> int:
        return self.record_start + len(self.records)


def chunk_records(
    records: Iterable[Any], bytes_read: Callable[[], int], max_records: int, max_bytes: int
) -> Iterator[Chunk]:
    """Cut a stream of records into chunks bounded by record count and by source bytes consumed.

    ``bytes_read`` reports how far the parser has read, a cheap proxy for the records' encoded size. The
    parser reads ahead in buffers, so a chunk may exceed ``max_bytes`` by one read buffer; callers keep
    ``max_bytes`` that far below the message size limit.
    """
    buffer: list[Any] = []
    start = 0
    index = 0
    mark = bytes_read()
    for record in records:
        buffer.append(record)
        position = bytes_read()
        if len(buffer) >= max_records or position - mark >= max_bytes:
            yield Chunk(index, start, buffer, position - mark)
            start += len(buffer)
            index += 1
            buffer = []
            mark = position
    if buffer:
        yield Chunk(index, start, buffer, bytes_read() - mark)


class CountingReader:
    """Wraps a byte stream and counts what was read, so chunks can be bounded by source bytes."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data


class _Records:
    """Iterates parsed records and remembers a parse error instead of raising it, so the records parsed
    before the error still make up the last chunk."""

    def __init__(self, items: Iterable[Any]) -> None:
        self._items = items
        self.count = 0
        self.error: ijson.JSONError | None = None

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self._items:
                self.count += 1
                yield item
        except ijson.JSONError as error:
            self.error = error


def source_chunks(stream: BinaryIO, max_records: int, max_bytes: int) -> Iterator[Chunk]:
    """Stream the records of a source document ``{"data": [record, ...]}`` in bounded chunks, holding
    one chunk at a time whatever the document's size.

    Raises MalformedObject after the last good chunk when the document turns out not to be valid JSON.
    A document of another shape yields nothing: see ``shape_problem``.
    """
    reader = CountingReader(stream)
    records = _Records(ijson.items(reader, "data.item", use_float=True))
    yield from chunk_records(records, lambda: reader.count, max_records, max_bytes)
    if records.error is not None:
        detail = " ".join(str(records.error).split())[:_EXCERPT]
        raise MalformedObject(
            DlqReason.INVALID_JSON,
            f"not valid JSON after {records.count} records, near byte {reader.count}: {detail}",
            records_before=records.count,
            byte_offset=reader.count,
        )


def whole_document_chunks(document: bytes, max_records: int, max_bytes: int) -> list[Chunk] | None:
    """Chunks of a small source document parsed in one go with orjson, several times faster than
    streaming it through ijson; None when it is not valid JSON of the source shape (the streaming path
    then reports exactly where and why). Chunk bounds follow the records' share of the document size."""
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        return None
    records = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(records, list) or not records:
        return None
    per_chunk = max(1, min(max_records, len(records) * max_bytes // max(1, len(document))))
    return [
        Chunk(
            index,
            start,
            records[start : start + per_chunk],
            len(document) * min(per_chunk, len(records) - start) // len(records),
        )
        for index, start in enumerate(range(0, len(records), per_chunk))
    ]


def shape_problem(stream: BinaryIO) -> str | None:
    """Why a valid JSON document without records is not in the source format, or None when it is
    ``{"data": []}``. Reads events until it knows: only documents without records pay for this."""
    events = ijson.parse(stream)
    _, event, _ = next(events)
    if event != "start_map":
        return f"top-level JSON value is {_kind(event)}, not an object with a 'data' array"
    for prefix, event, _ in events:
        if prefix == "data" and event != "map_key":
            return None if event == "start_array" else f"'data' is {_kind(event)}, not an array of records"
        if prefix == "" and event == "end_map":
            break
    return "the top-level object has no 'data' key"


def _kind(event: str) -> str:
    if event in ("number", "integer", "double"):
        return "a number"
    names = {"start_map": "an object", "start_array": "an array", "string": "a string", "boolean": "a boolean"}
    return names.get(event, event)


def apply_checkpoint_record(checkpoints: dict[str, str], bucket: str, key: bytes | None, value: bytes | None) -> None:
    """Fold one record of the compacted checkpoint topic into ``checkpoints`` (object key -> ETag).

    Records of other buckets are ignored; a tombstone (null value) forgets the object; an unreadable
    checkpoint also forgets it, which only means the object is published again: safe, never lossy.
    """
    if key is None:
        return
    prefix = f"{bucket}/"
    text = key.decode("utf-8", "replace")
    if not text.startswith(prefix):
        return
    object_key = text[len(prefix) :]
    if value is None:
        checkpoints.pop(object_key, None)
        return
    try:
        checkpoint = CHECKPOINTS.deserialize(value)
    except ValueError:
        checkpoints.pop(object_key, None)
        return
    if checkpoint.bucket != bucket or checkpoint.key != object_key:
        checkpoints.pop(object_key, None)
        return
    checkpoints[object_key] = checkpoint.etag


def default_group_id(bucket: str, prefixes: Iterable[str]) -> str:
    """One election group per bucket and set of prefixes: pollers of disjoint prefixes of one bucket
    each elect their own leader, while instances of one deployment share a group."""
    normalized = normalize_prefixes(prefixes)
    if normalized == [""]:
        return f"meterflow-poller.{bucket}"
    digest = zlib.crc32("\n".join(normalized).encode())
    return f"meterflow-poller.{bucket}.{digest:08x}"


@dataclass(slots=True)
class Leadership:
    """Leadership as the election consumer group reports it, one rebalance at a time.

    The group subscribes to the one-partition checkpoint topic: the member assigned that partition leads
    and is the only one that polls. A rebalance first revokes (publishing pauses: ``settled`` is False)
    and then assigns. ``term`` counts how often leadership was *gained*; keeping it across a rebalance
    (the sticky assignor keeps the partition with its holder when another instance joins) leaves the term
    unchanged, so an object in progress goes on. A new term means another instance may have led in
    between: work started in an older term is abandoned without a checkpoint and done again.
    """

    leading: bool = False
    settled: bool = False
    term: int = 0
    joined: bool = False

    @classmethod
    def sole(cls) -> Leadership:
        """Election switched off: this instance always leads."""
        return cls(leading=True, settled=True, term=1, joined=True)

    def revoked(self) -> None:
        self.settled = False

    def assigned(self, holds_partition: bool) -> None:
        if holds_partition and not self.leading:
            self.term += 1
        self.leading = holds_partition
        self.settled = True
        self.joined = True

    def left(self) -> None:
        """The group was left (shutdown) or lost: stop publishing until a new assignment."""
        self.leading = False
        self.settled = True

    def may_publish(self, term: int) -> bool:
        """Whether work that began in ``term`` may go on now (call once ``settled``)."""
        return self.leading and self.term == term


# -- messages about an object ---------------------------------------------------------------------------


def source_position(bucket: str, obj: ObjectInfo, chunk: Chunk, generation: int | None = None) -> SourcePosition:
    return SourcePosition(
        bucket=bucket,
        key=obj.key,
        etag=obj.etag,
        chunk_index=chunk.index,
        record_start=chunk.record_start,
        record_end=chunk.record_end,
        last_modified=obj.last_modified,
        generation=generation,
    )


def completed_checkpoint(
    bucket: str, obj: ObjectInfo, records: int, chunks: int, generation: int | None = None
) -> Checkpoint:
    return Checkpoint(
        bucket=bucket,
        key=obj.key,
        etag=obj.etag,
        size=obj.size,
        records=records,
        chunks=chunks,
        completed_at=datetime.now(UTC),
        generation=generation,
    )


def rejected_object(bucket: str, obj: ObjectInfo, fault: MalformedObject, chunks_sent: int) -> DeadLetter:
    """The dead letter of a malformed object: where it broke, after the ``chunks_sent`` good chunks."""
    return DeadLetter(
        reason=fault.reason,
        message=f"s3://{bucket}/{obj.key} (etag {obj.etag}): {fault}",
        stage="poller",
        record={
            "bucket": bucket,
            "key": obj.key,
            "etag": obj.etag,
            "size": obj.size,
            "byte_offset": fault.byte_offset,
            "records_before": fault.records_before,
        },
        source=SourcePosition(
            bucket=bucket,
            key=obj.key,
            etag=obj.etag,
            chunk_index=chunks_sent,
            record_start=fault.records_before,
            record_end=fault.records_before,
        ),
        failed_at=datetime.now(UTC),
    )
