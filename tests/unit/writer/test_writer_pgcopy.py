"""The binary COPY encoder without a database: layout of the stream, and what it refuses."""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from meterflow_writer.pgcopy import HEADER, TRAILER, encode_rows

M = uuid.UUID("11111111-1111-4111-8111-111111111111")


def test_stream_layout() -> None:
    ts = datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC)
    data = encode_rows([(M, "ab", ts, 1.5, "q", None, None)])
    assert data.startswith(HEADER) and data.endswith(TRAILER)
    row = data[len(HEADER) : -len(TRAILER)]
    assert row == (
        struct.pack(">h", 7)
        + struct.pack(">i", 16) + M.bytes
        + struct.pack(">i", 2) + b"ab"
        + struct.pack(">iq", 8, 1_000_000)
        + struct.pack(">id", 8, 1.5)
        + struct.pack(">i", 1) + b"q"
        + struct.pack(">i", -1)  # source_modified NULL
        + struct.pack(">i", -1)  # source_record NULL
    )  # fmt: skip
    assert encode_rows([]) == HEADER + TRAILER


def test_rows_of_different_shapes_in_one_stream() -> None:
    ts = datetime(2023, 1, 1, tzinfo=UTC)
    rows = [
        (M, "o", ts, 1.0, "measured", None, None),
        (M, "o", ts + timedelta(minutes=15), 2.0, "é", None, None),
        (uuid.uuid4(), "oo", ts, 3.0, "", None, None),
    ]
    data = encode_rows(rows)
    # 3 rows: fixed 2+4+16+4+4+8+4+8+4+4+4 = 62 bytes each (both version fields NULL), plus the variable
    # obis and quality bytes
    assert len(data) == len(HEADER) + len(TRAILER) + 3 * 62 + (1 + 8) + (1 + 2) + (2 + 0)


@pytest.mark.parametrize(
    "ts",
    [
        datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),  # before year 1 in UTC
        datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-1))),  # after 9999 in UTC
    ],
)
def test_timestamps_python_could_not_read_back_are_refused(ts: datetime) -> None:
    with pytest.raises(ValueError, match="outside the years"):
        encode_rows([(M, "o", ts, 1.0, "q", None, None)])


def test_the_source_version_follows_the_quality() -> None:
    ts = datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC)
    modified = datetime(2000, 1, 1, 0, 0, 2, tzinfo=UTC)
    data = encode_rows([(M, "ab", ts, 1.5, "q", modified, 7), (M, "ab", ts, 1.5, "q", modified, None)])
    rows = data[len(HEADER) : -len(TRAILER)]
    first_tail = struct.pack(">i", 1) + b"q" + struct.pack(">iq", 8, 2_000_000) + struct.pack(">ii", 4, 7)
    second_tail = struct.pack(">i", 1) + b"q" + struct.pack(">iq", 8, 2_000_000) + struct.pack(">i", -1)
    first_length = 2 + (4 + 16) + (4 + 2) + 12 + 12 + (4 + 1) + 12 + 8
    assert len(rows) == 2 * first_length - 4  # the second row's record index is NULL: no 4 value bytes
    assert rows[:first_length].endswith(first_tail)
    assert rows[first_length:].endswith(second_tail)
