"""Conversions between the two forms of typed readings: ``ReadingBatch`` (meter.readings.v1, one
[ts, value, quality] triple per reading) and ``ReadingColumns`` (meter.readings.v2, parallel columns).

Both carry the same information, so either converts to the other without loss: the normalizer builds v2 and
derives v1 from it for the subscribers that still read v1, and a v2 consumer can hand a message to code
written for v1 (the writer's rare slow paths do). Pure.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache

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


def to_batch(columns: ReadingColumns) -> ReadingBatch:
    """The v1 form of a v2 message (the fields are already validated: built without validating again)."""
    qualities = columns.qualities
    readings = [
        (datetime_of(ts), value, qualities[code])
        for ts, value, code in zip(columns.ts_us, columns.values, columns.quality_codes, strict=True)
    ]
    return ReadingBatch.model_construct(
        muid=columns.muid,
        obis=columns.obis,
        obis_hex=columns.obis_hex,
        quantity=columns.quantity,
        direction=columns.direction,
        unit=columns.unit,
        measurement=columns.measurement,
        interval_s=columns.interval_s,
        readings=readings,
        record_indexes=columns.record_indexes,
        source=columns.source,
        tenant=columns.tenant,
    )


def to_columns(batch: ReadingBatch) -> ReadingColumns:
    """The v2 form of a v1 message."""
    codes: dict[str, int] = {}
    quality_codes = [codes.setdefault(quality, len(codes)) for _, _, quality in batch.readings]
    return ReadingColumns.model_construct(
        muid=batch.muid,
        obis=batch.obis,
        obis_hex=batch.obis_hex,
        quantity=batch.quantity,
        direction=batch.direction,
        unit=batch.unit,
        measurement=batch.measurement,
        interval_s=batch.interval_s,
        ts_us=[micros_of(ts) for ts, _, _ in batch.readings],
        values=[value for _, value, _ in batch.readings],
        qualities=list(codes),
        quality_codes=quality_codes,
        record_indexes=batch.record_indexes,
        source=batch.source,
        tenant=batch.tenant,
    )
