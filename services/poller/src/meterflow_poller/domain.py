"""Pure poller logic, no I/O: what to publish, which checkpoint records count, and whether this instance
may publish (leadership). How a source document is parsed and cut into chunks is in parsing.py."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson
from meterflow_contracts import (
    CHECKPOINTS,
    LEADER_GENERATION_KEY_PREFIX,
    Checkpoint,
    DeadLetter,
    DlqReason,
    SourcePosition,
)

from meterflow_poller.errors import MalformedObject


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
    skipped. Whatever checkpoint is never matched by a listed object belongs to an object that may have
    been deleted: ``missing`` names them, and ``confirmed_deletions`` decides after a second listing.

    Working object by object lets the poller publish while it is still listing, and holds no listing.
    Only checkpoints under ``prefixes`` take part: an object outside them was not listed, not deleted.
    """

    def __init__(self, checkpoints: Mapping[str, str], prefixes: Iterable[str] = ("",)) -> None:
        prefixes = list(prefixes)
        self._unseen = {key: etag for key, etag in checkpoints.items() if under_prefixes(key, prefixes)}
        self.listed = 0

    def classify(self, obj: ObjectInfo) -> Outcome:
        """Call once per listed object: S3 lists a key once, and configured prefixes never overlap
        (``normalize_prefixes``). Holds only the checkpoints not matched yet."""
        self.listed += 1
        etag = self._unseen.pop(obj.key, None)
        if etag is None:
            return Outcome.NEW
        return Outcome.SKIPPED if etag == obj.etag else Outcome.CHANGED

    @property
    def listing_empty(self) -> bool:
        """Nothing was listed although checkpoints exist: a listing not to act on (an S3 or proxy fault
        returns an empty page far more often than a whole bucket is emptied)."""
        return self.listed == 0 and bool(self._unseen)

    def missing(self) -> list[str]:
        """Checkpointed keys no listed object matched (none after an empty listing); call once the
        listing is complete. Candidates only: see ``confirmed_deletions``."""
        return [] if self.listing_empty else sorted(self._unseen)

    def deleted(self) -> list[str]:
        """The keys ``missing`` names (kept for ``plan``, which sees one listing only)."""
        return self.missing()


def confirmed_deletions(missing: Iterable[str], relisted: Iterable[ObjectInfo]) -> list[str]:
    """The keys missing from a listing that a second complete listing (``relisted``) misses too; none
    when the second listing is empty as a whole, which is not trusted either."""
    unseen = set(missing)
    listed_any = False
    for obj in relisted:
        listed_any = True
        unseen.discard(obj.key)
    return sorted(unseen) if listed_any else []


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


@dataclass(frozen=True, slots=True)
class RejectedRecord:
    """A record the poller dead-letters itself (``index`` in the object, ``evidence`` the first 4 KiB
    of it as text); the object's other records go on."""

    index: int
    reason: DlqReason
    detail: str
    evidence: str


def split_chunk(chunk: Chunk, at: int) -> tuple[Chunk, Chunk]:
    """The chunk's records before and from ``at``, each with its share of the source bytes."""
    share = chunk.source_bytes * at // max(1, len(chunk.records))
    return (
        Chunk(chunk.index, chunk.record_start, chunk.records[:at], share),
        Chunk(chunk.index, chunk.record_start + at, chunk.records[at:], chunk.source_bytes - share),
    )


def generation_key(group_id: str) -> bytes:
    """Key of a poller group's leader generation record in the checkpoint topic."""
    return LEADER_GENERATION_KEY_PREFIX + group_id.encode()


def parse_generation(value: bytes | None) -> int:
    """The generation a reserved record holds; 0 for a tombstone or a value that is not one."""
    if value is None:
        return 0
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError:
        return 0
    generation = document.get("generation") if isinstance(document, dict) else None
    if isinstance(generation, bool) or not isinstance(generation, int):
        return 0
    return max(generation, 0)


def apply_checkpoint_record(
    checkpoints: dict[str, str], bucket: str, key: bytes | None, value: bytes | None, generation: int = 0
) -> None:
    """Fold one record of the compacted checkpoint topic into ``checkpoints`` (object key -> ETag).

    Records of other buckets are ignored; a tombstone (null value) forgets the object; an unreadable
    checkpoint also forgets it, which only means the object is published again: safe, never lossy.
    ``generation`` is the leader generation recorded before this record: a checkpoint of an older one was
    written by a stalled leader after its successor took over and is ignored (the object is published
    again by the current leader if it still needs to be).
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
    if checkpoint.generation is not None and checkpoint.generation < generation:
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


def source_position(
    bucket: str, obj: ObjectInfo, chunk: Chunk, chunk_index: int, generation: int | None = None
) -> SourcePosition:
    """Where the chunk sent as the object's ``chunk_index``-th raw message came from (a chunk too large
    for one message goes out as several, so the message count, not ``chunk.index``, numbers them), with
    the object's version and the leader generation that sent it."""
    return SourcePosition(
        bucket=bucket,
        key=obj.key,
        etag=obj.etag,
        chunk_index=chunk_index,
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


def rejected_record(bucket: str, obj: ObjectInfo, rejected: RejectedRecord, chunk_index: int) -> DeadLetter:
    """The dead letter of one record of an object, placed before the ``chunk_index`` chunk."""
    return DeadLetter(
        reason=rejected.reason,
        message=f"s3://{bucket}/{obj.key} (etag {obj.etag}), record {rejected.index}: {rejected.detail}",
        stage="poller",
        record=rejected.evidence,
        source=SourcePosition(
            bucket=bucket,
            key=obj.key,
            etag=obj.etag,
            chunk_index=chunk_index,
            record_start=rejected.index,
            record_end=rejected.index + 1,
        ),
        failed_at=datetime.now(UTC),
    )
