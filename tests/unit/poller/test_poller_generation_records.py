"""The poller's leader generation: the reserved record in the checkpoint topic (fencing.py), and the version
and generation the poller's messages carry."""

from __future__ import annotations

from datetime import UTC, datetime

from meterflow_contracts import CHECKPOINTS
from meterflow_poller.domain import (
    Chunk,
    ObjectInfo,
    apply_checkpoint_record,
    completed_checkpoint,
    generation_key,
    parse_generation,
    source_position,
)


def test_generation_records_are_read_back_and_garbage_counts_as_none() -> None:
    assert parse_generation(b'{"group": "g", "generation": 7, "taken_at": 1.0}') == 7
    garbage = (None, b"", b"not json", b"[]", b'{"generation": -1}', b'{"generation": "7"}', b'{"generation": true}')
    for value in garbage:
        assert parse_generation(value) == 0


def test_the_reserved_key_is_never_taken_for_a_checkpoint() -> None:
    key = generation_key("meterflow-poller.bucket")
    assert b"/" not in key
    checkpoints: dict[str, str] = {}
    apply_checkpoint_record(checkpoints, "bucket", key, b'{"generation": 3}')
    apply_checkpoint_record(checkpoints, "meterflow-poller.bucket", key, b'{"generation": 3}')
    assert checkpoints == {}


def test_messages_carry_the_objects_last_modified_and_the_generation() -> None:
    modified = datetime(2023, 3, 1, 12, tzinfo=UTC)
    obj = ObjectInfo("meters/a.json", "etag", 10, modified)
    position = source_position("bucket", obj, Chunk(0, 0, [{}]), 0, generation=4)
    assert (position.last_modified, position.generation) == (modified, 4)
    assert completed_checkpoint("bucket", obj, 1, 1, generation=4).generation == 4
    assert source_position("bucket", ObjectInfo("k", "e", 1), Chunk(0, 0, [{}]), 0).generation is None


def test_a_checkpoint_of_an_older_generation_than_recorded_before_it_is_ignored() -> None:
    obj = ObjectInfo("a.json", "e2", 10)
    stale = completed_checkpoint("bucket", obj, 1, 1, generation=3)
    current = completed_checkpoint("bucket", obj, 1, 1, generation=4)
    legacy = completed_checkpoint("bucket", obj, 1, 1)  # written before generations existed
    key = b"bucket/a.json"
    for checkpoint, expected in ((stale, {}), (current, {"a.json": "e2"}), (legacy, {"a.json": "e2"})):
        checkpoints: dict[str, str] = {}
        apply_checkpoint_record(checkpoints, "bucket", key, CHECKPOINTS.serialize(checkpoint)[1], generation=4)
        assert checkpoints == expected
