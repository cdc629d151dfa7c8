"""Numbers no double holds (``1e400``, NaN/Infinity literals). On the fast path, valid JSON (``1e400``)
passes in its record's bytes for the normalizer to reject that one reading; NaN/Infinity literals (not
JSON) make the poller reject only the record holding one (orjson, then the standard library's tolerant
parser). On the streaming path (yajl, then ijson's pure-Python parser from where yajl stopped) only the
record holding either is rejected."""

from __future__ import annotations

import io
import json
from typing import Any

import orjson
import pytest
from meterflow_contracts import DlqReason
from meterflow_poller.domain import Chunk, RejectedRecord, split_chunk
from meterflow_poller.errors import MalformedObject
from meterflow_poller.parsing import EVIDENCE_BYTES, Piece, source_chunks, whole_document_chunks
from records import values_of


def record(i: int, value: str = "") -> str:
    return f'{{"timestamp": "2023-02-01T00:{i:02d}:00Z", "0100011D00FF": {value or i}}}'


def document(values: dict[int, str], count: int = 10) -> bytes:
    return ('{"data": [' + ", ".join(record(i, values.get(i, "")) for i in range(count)) + "]}").encode()


def published(pieces: list[Piece]) -> list[int]:
    return [r["0100011D00FF"] for p in pieces if isinstance(p, Chunk) for r in values_of(p.records)]


def rejected(pieces: list[Piece]) -> list[RejectedRecord]:
    return [p for p in pieces if isinstance(p, RejectedRecord)]


def assert_positions_hold(pieces: list[Piece]) -> None:
    """Every record index is covered once, by a chunk or a rejection, in order."""
    covered: list[int] = []
    for piece in pieces:
        if isinstance(piece, Chunk):
            assert piece.record_end - piece.record_start == len(piece.records)
            covered.extend(range(piece.record_start, piece.record_end))
        else:
            covered.append(piece.index)
    assert covered == list(range(len(covered)))


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_the_fast_path_rejects_only_the_record_with_a_non_json_literal(literal: str) -> None:
    pieces = whole_document_chunks(document({3: literal, 7: literal}), max_records=4, max_bytes=900_000)
    assert pieces is not None
    assert published(pieces) == [0, 1, 2, 4, 5, 6, 8, 9]
    assert [(r.index, r.reason) for r in rejected(pieces)] == [(i, DlqReason.NON_FINITE_VALUE) for i in (3, 7)]
    assert literal in rejected(pieces)[0].evidence
    assert_positions_hold(pieces)


@pytest.mark.parametrize("literal", ["1e400", "-1e400", "1" + "0" * 400, str(2**70)])
def test_the_fast_path_passes_numbers_beyond_a_double_on_in_their_records_bytes(literal: str) -> None:
    pieces = whole_document_chunks(document({3: literal}), max_records=4, max_bytes=900_000)
    assert pieces is not None and not rejected(pieces)
    records = [r for p in pieces if isinstance(p, Chunk) for r in p.records]
    assert orjson.dumps(records[3]) == record(3, literal).encode()  # exactly as the source wrote it
    assert published(pieces)[3] == json.loads(literal)
    assert_positions_hold(pieces)


def test_a_document_invalid_for_another_reason_is_still_left_to_the_streaming_path() -> None:
    body = document({3: "1e400"})[:-5]  # cut off: not valid JSON whatever the numbers
    assert whole_document_chunks(body, 10, 900_000) is None


def test_streaming_stops_at_an_overflow_and_says_so() -> None:
    body = document({5: "1e400"})
    stream = source_chunks(io.BytesIO(body), max_records=3, max_bytes=900_000)
    pieces: list[Piece] = []
    with pytest.raises(MalformedObject) as fault:
        pieces.extend(stream)
    assert fault.value.number_overflow
    assert fault.value.records_before == 5
    assert published(pieces) == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("literal", ["1e400", "-2e999", "1" + "0" * 400])
def test_the_tolerant_streaming_parser_reads_on_from_there(literal: str) -> None:
    body = document({5: literal, 8: literal})
    pieces = list(source_chunks(io.BytesIO(body), max_records=3, max_bytes=900_000, resume_at=5))
    assert published(pieces) == [6, 7, 9]
    assert [r.index for r in rejected(pieces)] == [5, 8]
    assert all(p.record_start >= 5 for p in pieces if isinstance(p, Chunk))
    # Decimals become the doubles yajl would have read.
    tolerant = list(source_chunks(io.BytesIO(b'{"data": [{"a": 0.0117, "b": 3, "c": 1e-05}]}'), 10, 1000, 0))
    assert [p.records for p in tolerant if isinstance(p, Chunk)] == [[{"a": 0.0117, "b": 3, "c": 1e-05}]]


def test_nan_literals_in_a_streamed_document_stay_invalid_json() -> None:
    with pytest.raises(MalformedObject) as fault:
        list(source_chunks(io.BytesIO(document({2: "NaN"})), 10, 900_000))
    assert fault.value.reason is DlqReason.INVALID_JSON
    assert not fault.value.number_overflow


def test_evidence_is_cut_to_4_kib() -> None:
    big: dict[str, Any] = {"timestamp": "x", "pad": "é" * 10_000, "v": 1}
    body = json.dumps({"data": [big]}, ensure_ascii=False).replace('"v": 1', '"v": NaN').encode()
    pieces = whole_document_chunks(body, 10, 900_000)
    assert pieces is not None
    (reject,) = rejected(pieces)
    assert len(reject.evidence.encode()) <= EVIDENCE_BYTES


def test_split_chunk_keeps_positions_and_shares_bytes() -> None:
    chunk = Chunk(0, 10, list(range(6)), 600)
    first, rest = split_chunk(chunk, 2)
    assert (first.record_start, first.record_end, first.source_bytes) == (10, 12, 200)
    assert (rest.record_start, rest.record_end, rest.source_bytes) == (12, 16, 400)
