"""Fencing of stale poller leaders in the normalizer (fencing.GenerationFence) and the version the normalizer
passes on to each reading (record index in the object, the object's last-modified time)."""

from __future__ import annotations

from datetime import UTC, datetime

from meterflow_contracts import RawBatch, SourcePosition
from meterflow_normalizer.domain import normalize
from meterflow_normalizer.fencing import GenerationFence

MUID = "7e3c7a52-8c1b-4a0e-9a43-6f1b7b0f1a11"


def source(key: str, generation: int | None, record_start: int = 0) -> SourcePosition:
    return SourcePosition(
        bucket="b",
        key=key,
        etag="e",
        chunk_index=0,
        record_start=record_start,
        record_end=record_start + 2,
        last_modified=datetime(2023, 3, 1, 12, tzinfo=UTC),
        generation=generation,
    )


def test_an_older_generation_of_the_same_object_is_refused() -> None:
    fence = GenerationFence()
    assert fence.admits(source("a.json", 1))
    assert fence.admits(source("a.json", 2))  # a new leader republishes: admitted
    assert not fence.admits(source("a.json", 1))  # the old leader wakes up: refused
    assert fence.admits(source("a.json", 2))  # the new leader's next chunk


def test_other_objects_and_unversioned_batches_are_not_fenced() -> None:
    fence = GenerationFence()
    assert fence.admits(source("a.json", 5))
    # An old leader's work on another object may still wait in a lagging partition: it is legitimate.
    assert fence.admits(source("b.json", 4))
    assert fence.admits(source("a.json", None))


def test_memory_is_bounded_and_forgets_the_oldest_keys() -> None:
    fence = GenerationFence(max_keys=2)
    for key in ("a", "b", "c"):
        assert fence.admits(source(key, 5))
    assert fence.admits(source("a", 1))  # forgotten: let through (the writer's version rule still holds)
    assert not fence.admits(source("c", 1))


def test_readings_carry_their_record_index_in_the_object_and_the_object_version() -> None:
    records = [
        {"measurement": "energy", "timestamp": "2023-03-01T00:15:00Z", "tags": {"muid": MUID}, "0100011D00FF": 2.0},
        {"measurement": "energy", "timestamp": "2023-03-01T00:00:00Z", "tags": {"muid": MUID}, "0100011D00FF": 1.0},
    ]
    raw = RawBatch(
        source=source("a.json", 3, record_start=40),
        last_chunk=True,
        records=records,
        published_at=datetime.now(UTC),
    )
    [batch] = normalize(raw).batches
    assert [r[1] for r in batch.readings] == [1.0, 2.0]
    assert batch.record_indexes == [41, 40]
    assert batch.source.last_modified == datetime(2023, 3, 1, 12, tzinfo=UTC)
    assert batch.source.generation == 3
