"""Each topic encodes and decodes its own messages: round trips, the key of each topic, and the bytes
exactly as the models dump them (the wire format of the JSON Schema snapshots)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from meterflow_contracts import (
    CHECKPOINTS,
    DLQ,
    RAW,
    READINGS,
    Checkpoint,
    DeadLetter,
    DlqReason,
    RawBatch,
    ReadingBatch,
    SourcePosition,
    TopicSpec,
    checkpoint_key,
)
from pydantic import BaseModel, ValidationError

T0 = datetime(2023, 2, 1, tzinfo=UTC)
SOURCE = SourcePosition(bucket="b", key="dir/k.json", etag="e", chunk_index=0, record_start=0, record_end=2)
MUID = uuid.UUID("95ce3367-cbce-4a4d-bbe3-da082831d7bd")

RAW_BATCH = RawBatch(source=SOURCE, last_chunk=True, records=[{"a": 1}, [1, "x", None]], published_at=T0)
READING_BATCH = ReadingBatch(
    muid=MUID,
    obis="1-0:1.29.0*255",
    obis_hex="0100011D00FF",
    quantity="active_energy",
    direction="import",
    unit="kWh",
    measurement="energy",
    interval_s=900,
    readings=[(T0, 0.0117, "measured")],
    source=SOURCE,
)
DEAD = DeadLetter(
    reason=DlqReason.INVALID_MUID, message="bad", stage="normalizer", record={"x": 1}, source=SOURCE, failed_at=T0
)
CHECKPOINT = Checkpoint(bucket="b", key="dir/k.json", etag="e", size=10, records=2, chunks=1, completed_at=T0)

CASES: list[tuple[TopicSpec[Any], BaseModel, bytes]] = [
    (RAW, RAW_BATCH, b"dir/k.json"),
    (READINGS, READING_BATCH, str(MUID).encode()),
    (DLQ, DEAD, b"dir/k.json"),
    (CHECKPOINTS, CHECKPOINT, b"b/dir/k.json"),
]


@pytest.mark.parametrize(("spec", "value", "key"), CASES, ids=lambda c: getattr(c, "name", ""))
def test_serialize_gives_the_topic_key_and_the_model_json(spec: TopicSpec[Any], value: BaseModel, key: bytes) -> None:
    assert spec.serialize(value) == (key, value.model_dump_json().encode())


@pytest.mark.parametrize(("spec", "value", "key"), CASES, ids=lambda c: getattr(c, "name", ""))
def test_deserialize_round_trips(spec: TopicSpec[Any], value: BaseModel, key: bytes) -> None:
    decoded = spec.deserialize(spec.encode_value(value))
    assert decoded == value
    assert type(decoded) is spec.model


def test_an_explicit_key_overrides_the_topic_choice() -> None:
    bare = DeadLetter(reason=DlqReason.INVALID_MESSAGE, message="m", stage="writer", record="x", failed_at=T0)
    assert DLQ.serialize(bare)[0] == b""
    assert DLQ.serialize(bare, "k")[0] == b"k"
    assert DLQ.serialize(bare, b"\xff")[0] == b"\xff"


def test_checkpoint_key_of_a_tombstone_matches_the_checkpoints() -> None:
    assert checkpoint_key("b", "dir/k.json").encode() == CHECKPOINTS.encode_key(CHECKPOINT)


@pytest.mark.parametrize("spec", [RAW, READINGS, DLQ, CHECKPOINTS], ids=lambda s: s.name)
@pytest.mark.parametrize("value", [b"", b"{not json", b'{"schema_version": 1}', b"[]"])
def test_deserialize_refuses_what_is_not_a_message_with_a_value_error(spec: TopicSpec[Any], value: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - both JSON and validation errors are ValueErrors
        spec.deserialize(value)


def test_the_raw_topic_parses_records_as_any_json() -> None:
    decoded = RAW.deserialize(RAW.encode_value(RAW_BATCH))
    assert decoded.records == [{"a": 1}, [1, "x", None]]
    with pytest.raises(ValidationError):
        RAW.deserialize(b'{"schema_version": 2}')
