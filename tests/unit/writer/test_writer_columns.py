"""The writer's columnar path (meter.readings.v2) without a database: its COPY bytes are pgcopy's bytes of
the same rows, a message with a bad reading leaves the columnar path, and a batch of blocks builds its rows
only when asked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from meterflow_contracts import READINGS, READINGS_V2, ReadingBatch, SourcePosition
from meterflow_contracts.columnar import to_batch, to_columns
from meterflow_writer.columns import ColumnRows, block_of, decode_message
from meterflow_writer.domain import PendingBatch, channel_spans, rows_of
from meterflow_writer.pgcopy import HEADER, TRAILER, encode_rows

M = uuid.UUID("11111111-1111-4111-8111-111111111111")
T0 = datetime(2023, 2, 1, tzinfo=UTC)
NOW = datetime(2023, 3, 1, tzinfo=UTC)


def batch(
    n: int = 96, *, modified: datetime | None = T0, indexes: bool = True, qualities: tuple[str, ...] = ("measured",)
) -> ReadingBatch:
    source = SourcePosition(
        bucket="b", key="k", etag="e", chunk_index=0, record_start=0, record_end=n, last_modified=modified
    )
    return ReadingBatch(
        muid=M,
        obis="1-0:1.29.0*255",
        obis_hex="0100011D00FF",
        quantity="active_energy",
        direction="import",
        unit="kWh",
        measurement="energy",
        interval_s=900,
        readings=[(T0 + timedelta(minutes=15 * i), i * 0.25, qualities[i % len(qualities)]) for i in range(n)],
        record_indexes=list(range(n)) if indexes else None,
        source=source,
        tenant="acme",
    )


def body(rows: list) -> bytes:
    return encode_rows(rows)[len(HEADER) : -len(TRAILER)]


@pytest.mark.parametrize(
    "message",
    [batch(), batch(modified=None), batch(indexes=False), batch(qualities=("measured", "estimated", "é"))],
    ids=["versioned", "no-modified", "no-indexes", "three-qualities"],
)
def test_block_bytes_are_the_rows_bytes(message: ReadingBatch) -> None:
    block = block_of(to_columns(message), NOW)
    assert block is not None
    rows = rows_of(message)
    assert block.rows() == rows
    # One structured array per quality: the same rows, grouped by quality.
    by_quality = sorted(rows, key=lambda row: [r[4] for r in rows].index(row[4]))
    assert block.payload == body(by_quality)


@pytest.mark.parametrize(
    ("index", "value", "ts"),
    [
        (3, float("nan"), None),
        (3, -1.0, None),
        (3, 1.0, T0 - timedelta(days=9000)),
        (3, 1.0, NOW + timedelta(days=3)),
        (3, 1.0, T0 + timedelta(minutes=46)),
    ],
    ids=["non-finite", "negative-energy", "before-2000", "future", "off-grid"],
)
def test_a_bad_reading_leaves_the_columnar_path(index: int, value: float, ts: datetime | None) -> None:
    message = batch()
    readings = list(message.readings)
    readings[index] = (ts or readings[index][0], value, "measured")
    bad = message.model_copy(update={"readings": sorted(readings)})
    assert block_of(to_columns(bad), NOW) is None
    assert block_of(to_columns(message), NOW) is not None


def test_invalid_obis_leaves_the_columnar_path() -> None:
    assert block_of(to_columns(batch().model_copy(update={"obis": "1-0:1.29.0"})), NOW) is None


def test_messages_are_read_by_the_version_they_carry() -> None:
    message = batch()
    assert decode_message(READINGS.encode_value(message)) == message
    columns = decode_message(READINGS_V2.encode_value(to_columns(message)))
    assert to_batch(columns) == message  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="validation error"):
        decode_message(b'{"schema_version":2,"muid":"x"}')


def test_v2_columns_of_unequal_length_are_refused() -> None:
    value = READINGS_V2.encode_value(to_columns(batch()).model_copy(update={"values": [1.0]}))
    with pytest.raises(ValueError, match="values has 1 entries for 96 timestamps"):
        READINGS_V2.deserialize(value)


def test_a_batch_of_blocks_builds_rows_only_when_asked() -> None:
    pending = PendingBatch()
    first, second = batch(), batch().model_copy(update={"muid": uuid.uuid4()})
    v1 = batch(8).model_copy(update={"obis": "1-0:2.29.0*255"})
    pending.add(v1, "t", 0, 0, 0.0)
    for offset, message in enumerate((first, second), start=1):
        block = block_of(to_columns(message), NOW)
        assert block is not None
        pending.add_block(block, "t", 0, offset, 0.0)
    sealed = pending.seal(encode_rows)
    assert isinstance(sealed, ColumnRows) and len(sealed) == 8 + 96 + 96 == len(pending)
    all_rows = rows_of(v1) + rows_of(first) + rows_of(second)
    assert sealed.spans == channel_spans(all_rows)
    assert sealed._built is None  # nothing built so far
    assert pending.payload == HEADER + body(all_rows) + TRAILER
    assert list(sealed) == all_rows
    assert pending.offsets == {("t", 0): 3}


def test_a_key_twice_builds_the_rows_and_de_duplicates() -> None:
    pending = PendingBatch()
    for offset in range(2):
        block = block_of(to_columns(batch()), NOW)
        assert block is not None
        pending.add_block(block, "t", 0, offset, 0.0)
    sealed = pending.seal(encode_rows)
    assert not isinstance(sealed, ColumnRows) and len(sealed) == 96
    assert pending.payload == encode_rows(list(sealed))
