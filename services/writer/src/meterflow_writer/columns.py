"""The writer's columnar path for ``meter.readings.v2``: a message's columns become numpy arrays, are checked
against the boundary rules in bulk, and become binary COPY rows in bulk, without a Python object per reading.

Rows as tuples (domain.Row) are built only where a path needs them, all rare: a batch that may hold a key
twice (its de-duplication), a batch the database refused (its isolation), a message with a bad reading (the
per-reading check of validation.py, which then also writes its dead letters). :class:`ColumnRows` is the
rows of a batch that builds them only when asked, and carries what the write needs without them: the count
and each channel's span.

The COPY layout is pgcopy's (see there); here one numpy structured array per quality of a message holds its
rows, every field at a fixed offset, and ``tobytes`` is the stream.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, overload
from uuid import UUID

import numpy as np
from meterflow_contracts import READINGS, READINGS_V2, ReadingBatch, ReadingColumns
from meterflow_contracts.columnar import datetime_of, micros_of

from meterflow_writer.validation import GRID_PERIOD_S, _channel

if TYPE_CHECKING:
    from meterflow_writer.domain import Row

ChannelSpan = tuple[datetime, datetime, int]
# What pydantic writes first for a v2 message: a v1 message never starts so.
V2_PREFIX = b'{"schema_version":2'
EARLIEST_US = micros_of(datetime(2000, 1, 1, tzinfo=UTC))
FUTURE_SLACK = timedelta(days=2)
# timestamptz's binary form counts microseconds from 2000-01-01 UTC, ours from 1970-01-01.
PG_EPOCH_US = EARLIEST_US
_SECOND_US = 1_000_000
_FIELDS = 7


def decode_message(value: bytes) -> ReadingBatch | ReadingColumns:
    """A readings message of either contract version, by the ``schema_version`` it carries; raises
    ValueError when it is neither (the v1 error, or the v2 one when the message says it is v2)."""
    if value.startswith(V2_PREFIX):
        return READINGS_V2.deserialize(value)
    try:
        return READINGS.deserialize(value)
    except ValueError as error:
        try:
            return READINGS_V2.deserialize(value)
        except ValueError:
            raise error from None


@dataclass(frozen=True, slots=True)
class ColumnBlock:
    """One v2 message in the writer: its columns as arrays and its rows' COPY bytes (no header)."""

    message: ReadingColumns
    ts_us: np.ndarray[Any, np.dtype[np.int64]]
    values: np.ndarray[Any, np.dtype[np.float64]]
    codes: np.ndarray[Any, np.dtype[np.int64]]
    records: np.ndarray[Any, np.dtype[np.int64]] | None
    payload: bytes

    def __len__(self) -> int:
        return len(self.ts_us)

    @property
    def ascending(self) -> bool:
        """Strictly ascending timestamps: no key occurs twice within the message."""
        return bool(np.all(self.ts_us[1:] > self.ts_us[:-1]))

    @property
    def span(self) -> ChannelSpan:
        return datetime_of(int(self.ts_us.min())), datetime_of(int(self.ts_us.max())), len(self.ts_us)

    def rows(self) -> list[Row]:
        m = self.message
        muid, obis, modified, qualities = m.muid, m.obis, m.source.last_modified, m.qualities
        stamps = [datetime_of(ts) for ts in m.ts_us]
        indexes = m.record_indexes if m.record_indexes is not None else [None] * len(stamps)
        return [
            (muid, obis, ts, value, qualities[code], modified, index)
            for ts, value, code, index in zip(stamps, m.values, m.quality_codes, indexes, strict=True)
        ]


def block_of(message: ReadingColumns, now: datetime) -> ColumnBlock | None:
    """The message as a block when every reading passes the boundary rules (validation.py) and its columns
    have a COPY form here; None when one does not: the caller then takes the per-reading path."""
    ts = np.asarray(message.ts_us, dtype=np.int64)
    values = np.asarray(message.values, dtype=np.float64)
    if not _passes(message, ts, values, now) or not message.obis or not all(message.qualities):
        return None
    codes = np.asarray(message.quality_codes, dtype=np.int64)
    records = None if message.record_indexes is None else np.asarray(message.record_indexes, dtype=np.int64)
    payload = _encode(message, ts, values, codes, records)
    return ColumnBlock(message, ts, values, codes, records, payload)


def _passes(message: ReadingColumns, ts: np.ndarray[Any, Any], values: np.ndarray[Any, Any], now: datetime) -> bool:
    channel = _channel(message.obis)
    if not channel.valid:
        return False
    latest = micros_of(now + FUTURE_SLACK)
    if not (np.isfinite(values).all() and ts.min() >= EARLIEST_US and ts.max() <= latest):
        return False
    if channel.no_negative and (values < 0).any():
        return False
    interval = message.interval_s
    energy = message.quantity.endswith("_energy")
    if energy and interval and interval > 0 and GRID_PERIOD_S % interval == 0:
        return not (ts % (interval * _SECOND_US)).any()
    return True


def _encode(
    message: ReadingColumns,
    ts: np.ndarray[Any, Any],
    values: np.ndarray[Any, Any],
    codes: np.ndarray[Any, Any],
    records: np.ndarray[Any, Any] | None,
) -> bytes:
    obis = message.obis.encode()
    modified = message.source.last_modified
    parts: list[bytes] = []
    for code, quality in enumerate(message.qualities):
        chosen = slice(None) if len(message.qualities) == 1 else codes == code
        label = quality.encode()
        fields: list[tuple[str, str]] = [
            ("count", ">i2"),
            ("muid_len", ">i4"),
            ("muid", "S16"),
            ("obis_len", ">i4"),
            ("obis", f"S{len(obis)}"),
            ("ts_len", ">i4"),
            ("ts", ">i8"),
            ("value_len", ">i4"),
            ("value", ">f8"),
            ("quality_len", ">i4"),
            ("quality", f"S{len(label)}"),
            ("modified_len", ">i4"),
        ]
        if modified is not None:
            fields.append(("modified", ">i8"))
        fields.append(("record_len", ">i4"))
        if records is not None:
            fields.append(("record", ">i4"))
        stamps = ts[chosen]
        out = np.empty(len(stamps), dtype=np.dtype(fields))
        out["count"] = _FIELDS
        out["muid_len"] = 16
        out["muid"] = _uuid_bytes(message.muid)
        out["obis_len"] = len(obis)
        out["obis"] = obis
        out["ts_len"] = 8
        out["ts"] = stamps - PG_EPOCH_US
        out["value_len"] = 8
        out["value"] = values[chosen]
        out["quality_len"] = len(label)
        out["quality"] = label
        if modified is None:
            out["modified_len"] = -1
        else:
            out["modified_len"] = 8
            out["modified"] = micros_of(modified) - PG_EPOCH_US
        if records is None:
            out["record_len"] = -1
        else:
            out["record_len"] = 4
            out["record"] = records[chosen]
        parts.append(out.tobytes())
    return b"".join(parts)


def _uuid_bytes(muid: UUID) -> bytes:
    return muid.bytes


class ColumnRows(Sequence["Row"]):
    """The rows of a batch of v1 rows and v2 blocks (no key twice), built only when indexed or iterated;
    ``spans`` holds each channel's first and last ts and count without building them."""

    def __init__(self, rows: list[Row], blocks: Sequence[ColumnBlock], spans: dict[tuple[UUID, str], ChannelSpan]):
        self._rows = rows
        self._blocks = blocks
        self._built: list[Row] | None = None if blocks else rows
        self._len = len(rows) + sum(len(block) for block in blocks)
        self.spans = dict(spans)
        for block in blocks:
            key = (block.message.muid, block.message.obis)
            first, last, count = block.span
            known = self.spans.get(key)
            self.spans[key] = (
                (first, last, count) if known is None else (min(known[0], first), max(known[1], last), known[2] + count)
            )

    def built(self) -> list[Row]:
        if self._built is None:
            self._built = [*self._rows, *(row for block in self._blocks for row in block.rows())]
        return self._built

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, index: int) -> Row: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Row]: ...
    def __getitem__(self, index: int | slice) -> Row | Sequence[Row]:
        return self.built()[index]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.built())
