"""Parsing a source document ``{"data": [record, ...]}`` and cutting its records into chunks, without I/O.

Small documents are not parsed at all in the usual case: msgspec checks the JSON and finds where each record
begins and ends, and the records travel on as their own bytes (orjson fragments), never built as Python
objects (the normalizer parses them, once). What that path cannot take (a NaN literal, nesting deeper
than msgspec goes) is parsed whole with orjson; large documents, and anything orjson refuses, are streamed
through ijson. A number that no double holds (``1e400``, an integer beyond 1.8e308) or a NaN/Infinity
literal makes orjson refuse the whole document and yajl stop where it stands: the tolerant parsers here
then read on, and only the record holding it is rejected (non_finite_value); the object's other records
are published. Rejected records travel in the chunk stream as :class:`RejectedRecord` items, so the
records around them keep their positions in the object.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, BinaryIO, TypeAlias

import ijson
import msgspec
import orjson
from meterflow_contracts import DlqReason

from meterflow_poller.domain import Chunk, RejectedRecord
from meterflow_poller.errors import MalformedObject

# How much of a parser error message goes into a dead letter.
_EXCERPT = 400
# How much of a rejected record goes into its dead letter, as text.
EVIDENCE_BYTES = 4096
# Integers orjson (and so the normalizer's raw decoder) reads as integers; beyond, they become doubles.
_INT_RANGE = range(-(2**63), 2**64)
# yajl stops on these; the tolerant streaming parser reads past them.
_OVERFLOW = "overflow"


# What the chunk stream of an object yields.
Piece: TypeAlias = Chunk | RejectedRecord


@dataclass(frozen=True, slots=True)
class _Unusable:
    """A parsed record that cannot be published; chunk_records gives it its position."""

    reason: DlqReason
    detail: str
    evidence: str


@dataclass(frozen=True, slots=True)
class _NonFinite:
    """A number no double holds, kept as its source text for the evidence."""

    text: str


def evidence_text(record: Any) -> str:
    """The first EVIDENCE_BYTES of a record as JSON text (non-finite numbers as their source text)."""
    encoded = json.dumps(record, default=_as_text, ensure_ascii=False).encode()
    return encoded[:EVIDENCE_BYTES].decode("utf-8", "ignore")


def _as_text(value: Any) -> str:
    return value.text if isinstance(value, _NonFinite) else str(value)


def chunk_records(
    records: Iterable[Any], bytes_read: Callable[[], int], max_records: int, max_bytes: int, start: int = 0
) -> Iterator[Piece]:
    """Cut a stream of records into chunks bounded by record count and by source bytes consumed.

    ``bytes_read`` reports how far the parser has read, a cheap proxy for the records' encoded size. The
    parser reads ahead in buffers, so a chunk may exceed ``max_bytes`` by one read buffer; callers keep
    ``max_bytes`` that far below the message size limit. A record the parser marked unusable closes the
    chunk before it and comes out as a RejectedRecord; ``start`` is the index of the first record.
    """
    buffer: list[Any] = []
    index = 0
    mark = bytes_read()
    for record in records:
        if isinstance(record, _Unusable):
            position = bytes_read()
            if buffer:
                yield Chunk(index, start, buffer, position - mark)
                start, index, buffer, mark = start + len(buffer), index + 1, [], position
            yield RejectedRecord(start, record.reason, record.detail, record.evidence)
            start += 1
            continue
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


UTF8_BOM = b"\xef\xbb\xbf"


class CountingReader:
    """Wraps a byte stream and counts what was read, so chunks can be bounded by source bytes. A UTF-8
    byte order mark at the start (some Windows tools write one) is passed over: JSON parsers refuse it."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0
        self._at_start = True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        if self._at_start and data:
            self._at_start = False
            if data.startswith(UTF8_BOM):
                return data[len(UTF8_BOM) :] or self.read(size)
        return data


class _Records:
    """Iterates parsed records and remembers a parse error instead of raising it, so the records parsed
    before the error still make up the last chunk."""

    def __init__(self, items: Iterable[Any], skip: int = 0) -> None:
        self._items = items
        self._skip = skip
        self.count = 0
        self.error: ijson.JSONError | None = None

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self._items:
                self.count += 1
                if self.count > self._skip:
                    yield item
        except ijson.JSONError as error:
            self.error = error


def source_chunks(stream: BinaryIO, max_records: int, max_bytes: int, resume_at: int | None = None) -> Iterator[Piece]:
    """Stream the records of a source document ``{"data": [record, ...]}`` in bounded chunks, holding
    one chunk at a time whatever the document's size.

    With ``resume_at`` (the records already published before the fast parser stopped at a number out of
    double range), the tolerant pure-Python parser reads the document and passes over the records before
    that index. Raises MalformedObject after the last good chunk when the document turns out not to be
    valid JSON (``number_overflow`` set when the fast parser stopped at such a number: read it again
    with ``resume_at``). A document of another shape yields nothing: see ``shape_problem``.
    """
    reader = CountingReader(stream)
    tolerant = resume_at is not None
    skip = resume_at or 0
    if tolerant:
        items: Iterable[Any] = map(_finite_record, ijson.get_backend("python").items(reader, "data.item"))
    else:
        items = ijson.items(reader, "data.item", use_float=True)
    records = _Records(items, skip)
    yield from chunk_records(records, lambda: reader.count, max_records, max_bytes, start=skip)
    if records.error is not None:
        detail = " ".join(str(records.error).split())[:_EXCERPT]
        raise MalformedObject(
            DlqReason.INVALID_JSON,
            f"not valid JSON after {records.count} records, near byte {reader.count}: {detail}",
            records_before=records.count,
            byte_offset=reader.count,
            number_overflow=not tolerant and _OVERFLOW in str(records.error),
        )


def _finite_record(record: Any) -> Any:
    """A record of the tolerant streaming parser (exact Decimals) with doubles, or _Unusable when one of
    its numbers is out of double range."""
    converted = _to_doubles(record)
    if _has_non_finite(converted):
        return _unusable(converted)
    return converted


def _to_doubles(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _to_doubles(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_to_doubles(item) for item in value]
    if isinstance(value, Decimal):
        number = float(value)
        return number if math.isfinite(number) else _NonFinite(str(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return _integer(value)
    return value


def _integer(value: int) -> int | float | _NonFinite:
    if value in _INT_RANGE:
        return value
    try:
        return float(value)
    except OverflowError:
        return _NonFinite(str(value))


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, _NonFinite):
        return True
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(item) for item in value)
    return False


def _unusable(record: Any) -> _Unusable:
    return _Unusable(
        DlqReason.NON_FINITE_VALUE,
        "a number out of double range, NaN or Infinity (no double holds it)",
        evidence_text(record),
    )


def whole_document_chunks(document: bytes, max_records: int, max_bytes: int) -> list[Piece] | None:
    """Chunks of a small source document read in one go, many times faster than streaming it through
    ijson: as the records' bytes (record_spans) in the usual case, else parsed with orjson (chunk bounds
    then follow the records' share of the document size); None when it is not valid JSON of the source
    shape (the streaming path then reports exactly where and why).

    A document orjson refuses only for numbers no double holds (or NaN/Infinity literals) is parsed
    again by the standard library's tolerant parser: those records are rejected, the others published.
    """
    tolerated = False
    document = document.removeprefix(UTF8_BOM)
    spans = record_spans(document)
    if spans is not None:
        return span_chunks(spans, max_records, max_bytes)
    try:
        parsed = orjson.loads(document)
    except orjson.JSONDecodeError:
        parsed, tolerated = _parse_tolerating_non_finite(document), True
    records = parsed.get("data") if isinstance(parsed, dict) else None
    if not isinstance(records, list) or not records:
        return None
    if tolerated:  # some records are _Unusable: chunk_records cuts around them
        return list(chunk_records(records, _share_read(document, records), max_records, max_bytes))
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


class _Spans(msgspec.Struct):
    """The source shape, each record kept as the bytes it spans in the document."""

    data: list[msgspec.Raw]


_SPANS = msgspec.json.Decoder(_Spans)


def record_spans(document: bytes) -> list[msgspec.Raw] | None:
    """Each record of a source document as its own bytes, or None when the document is not valid UTF-8 JSON
    of the source shape with at least one record (the full parsers then say why, or take what msgspec
    refuses: a NaN literal, nesting deeper than it recurses). Checking the JSON and finding the records'
    bounds costs a fifth of building them as Python objects with orjson.

    A number no double holds (``1e400``) is valid JSON and passes in its record's bytes: the normalizer,
    which reads the values, rejects that reading (non_finite_value) and keeps the record's others."""
    try:
        document.decode("utf-8")  # msgspec passes over the bytes of the strings it does not decode
        spans = _SPANS.decode(document).data
    except (UnicodeDecodeError, msgspec.DecodeError, RecursionError):  # a ValidationError is a DecodeError
        return None
    return spans or None


def span_chunks(spans: list[msgspec.Raw], max_records: int, max_bytes: int) -> list[Piece]:
    """Chunks of records found by record_spans, bounded by record count and by their exact bytes; each
    record an ``orjson.Fragment``, written into the raw message as it is."""
    records = list(map(orjson.Fragment, map(bytes, spans)))
    sizes = [len(span) + 1 for span in spans]  # with the comma between records
    total = sum(sizes)
    if len(records) <= max_records and total <= max_bytes:
        return [Chunk(0, 0, records, total)]  # the usual object: one message
    chunks: list[Piece] = []
    start, size = 0, 0
    for index, length in enumerate(sizes):
        if index > start and (index - start >= max_records or size + length > max_bytes):
            chunks.append(Chunk(len(chunks), start, records[start:index], size))
            start, size = index, 0
        size += length
    chunks.append(Chunk(len(chunks), start, records[start:], size))
    return chunks


def _share_read(document: bytes, records: list[Any]) -> Callable[[], int]:
    """A bytes_read for records already parsed: each record's share of the document's size."""
    share = max(1, len(document) // len(records))
    counter = iter(range(0, len(document) + share * (len(records) + 2), share))
    return lambda: next(counter)


def _parse_tolerating_non_finite(document: bytes) -> Any:
    """The document parsed with non-finite numbers allowed, its records holding one made _Unusable;
    None when it is not valid JSON for another reason too, or holds no such number."""
    found = False

    def non_finite(text: str) -> _NonFinite:
        nonlocal found
        found = True
        return _NonFinite(text)

    def double(text: str) -> float | _NonFinite:
        number = float(text)
        return number if math.isfinite(number) else non_finite(text)

    def integer(text: str) -> int | float | _NonFinite:
        value = _integer(int(text))
        return non_finite(text) if isinstance(value, _NonFinite) else value

    try:
        parsed = json.loads(document.decode("utf-8"), parse_constant=non_finite, parse_float=double, parse_int=integer)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not found or not isinstance(parsed, dict) or not isinstance(parsed.get("data"), list):
        return None
    parsed["data"] = [_unusable(record) if _has_non_finite(record) else record for record in parsed["data"]]
    return parsed


def shape_problem(stream: BinaryIO) -> str | None:
    """Why a valid JSON document without records is not in the source format, or None when it is
    ``{"data": []}``. Reads events until it knows: only documents without records pay for this."""
    events = ijson.parse(CountingReader(stream))
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
