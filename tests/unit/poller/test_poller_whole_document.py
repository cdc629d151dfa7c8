"""The fast path for small objects yields the same records as streaming, in chunks within the bounds."""

from __future__ import annotations

import io
import json

import pytest
from meterflow_poller.parsing import shape_problem, source_chunks, whole_document_chunks
from records import values_of


def document(records: int) -> bytes:
    data = [
        {
            "measurement": "energy",
            "timestamp": f"2023-02-01T00:{i % 60:02d}:00.000Z",
            "tags": {"muid": "95ce3367-cbce-4a4d-bbe3-da082831d7bd", "quality": "measured"},
            "0100011D00FF": 0.035500000000000004 if i % 3 else 0,
        }
        for i in range(records)
    ]
    return json.dumps({"data": data}, separators=(",", ":")).encode()


@pytest.mark.parametrize(("max_records", "max_bytes"), [(5_000, 900_000), (7, 900_000), (5_000, 2_000)])
def test_same_records_as_streaming_within_bounds(max_records: int, max_bytes: int) -> None:
    body = document(500)
    fast = whole_document_chunks(body, max_records, max_bytes)
    assert fast is not None
    streamed = list(source_chunks(io.BytesIO(body), max_records, max_bytes))
    assert [r for c in fast for r in values_of(c.records)] == [r for c in streamed for r in c.records]
    assert [c.index for c in fast] == list(range(len(fast)))
    assert all(len(c.records) <= max_records for c in fast)
    assert all(c.source_bytes <= max_bytes for c in fast)
    assert [c.record_start for c in fast] == [sum(len(x.records) for x in fast[:i]) for i in range(len(fast))]
    # Values keep their exact type and double value: the integer 0 stays an integer.
    assert {type(r["0100011D00FF"]) for c in fast for r in values_of(c.records)} == {int, float}


@pytest.mark.parametrize(
    "body", [b'{"data": [{"a": 1}', b"[1, 2]", b'{"other": []}', b'{"data": {}}', b'{"data": []}', b"\xff"]
)
def test_anything_else_is_left_to_the_streaming_path(body: bytes) -> None:
    assert whole_document_chunks(body, 5_000, 900_000) is None


def test_a_utf8_byte_order_mark_is_passed_over_whole_and_streamed() -> None:
    body = document(20)
    fast = whole_document_chunks(b"\xef\xbb\xbf" + body, 5_000, 900_000)
    streamed = list(source_chunks(io.BytesIO(b"\xef\xbb\xbf" + body), 5_000, 900_000))
    assert fast is not None
    expected = json.loads(body)["data"]
    assert [r for c in fast for r in values_of(c.records)] == expected
    assert [r for c in streamed for r in c.records] == expected
    assert shape_problem(io.BytesIO(b'\xef\xbb\xbf{"data": []}')) is None
