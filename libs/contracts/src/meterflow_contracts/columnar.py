"""Conversions between the two forms of typed readings: ``ReadingBatch`` (meter.readings.v1, one
[ts, value, quality] triple per reading) and ``ReadingColumns`` (meter.readings.v2, parallel columns).

Both carry the same information, so either converts to the other without loss: the normalizer builds v2 and
derives v1 from it for the subscribers that still read v1, and a v2 consumer can hand a message to code
written for v1 (the writer's rare slow paths do). Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from meterflow_contracts.models import ReadingBatch, ReadingColumns

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def micros_of(ts: datetime) -> int:
    """Microseconds since 1970-01-01 UTC of an aware datetime (exact, integer arithmetic)."""
    return (ts - UNIX_EPOCH) // _MICROSECOND


# Readings of a fleet share their timestamps (every meter reads at the same quarter hours): build each
# datetime once.
@lru_cache(maxsize=65_536)
def datetime_of(micros: int) -> datetime:
    """The aware UTC datetime of microseconds since 1970-01-01 UTC."""
    return UNIX_EPOCH + timedelta(microseconds=micros)


# What v1 and v2 carry alike: the channel, its source and the readings' record indexes.
_CHANNEL_FIELDS = (
    "muid",
    "obis",
    "obis_hex",
    "quantity",
    "direction",
    "unit",
    "measurement",
    "interval_s",
    "record_indexes",
    "source",
    "tenant",
)


def _channel_fields(message: ReadingBatch | ReadingColumns) -> dict[str, Any]:
    return {name: getattr(message, name) for name in _CHANNEL_FIELDS}


def to_batch(columns: ReadingColumns) -> ReadingBatch:
    """The v1 form of a v2 message (the fields are already validated: built without validating again)."""
    qualities = columns.qualities
    readings = [
        (datetime_of(ts), value, qualities[code])
        for ts, value, code in zip(columns.ts_us, columns.values, columns.quality_codes, strict=True)
    ]
    return ReadingBatch.model_construct(**_channel_fields(columns), readings=readings)


def to_columns(batch: ReadingBatch) -> ReadingColumns:
    """The v2 form of a v1 message."""
    codes: dict[str, int] = {}
    quality_codes = [codes.setdefault(quality, len(codes)) for _, _, quality in batch.readings]
    return ReadingColumns.model_construct(
        **_channel_fields(batch),
        ts_us=[micros_of(ts) for ts, _, _ in batch.readings],
        values=[value for _, value, _ in batch.readings],
        qualities=list(codes),
        quality_codes=quality_codes,
    )
