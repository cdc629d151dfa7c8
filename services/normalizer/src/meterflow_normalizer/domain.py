"""Pure normalization: raw source records -> typed reading batches per meter and channel, plus dead letters.

No I/O here; the Faust agent in main.py feeds raw batches in and publishes what comes out.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

from meterflow_contracts import DeadLetter, DlqReason, RawBatch, ReadingBatch, SourcePosition
from meterflow_obis import ObisError, ObisInfo, decode

# Keys of a source record that are not OBIS channels.
_ENVELOPE_KEYS = frozenset({"measurement", "timestamp", "tags"})
_MEASUREMENTS = frozenset({"energy", "power"})


class RecordRejected(Exception):
    """A record, or one channel of it, that cannot be trusted; carries its DLQ reason."""

    def __init__(self, reason: DlqReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


# (muid text, OBIS hex, measurement): plain strings hash far faster than UUIDs or dataclasses,
# and this key is looked up once per reading.
_ChannelKey = tuple[str, str, str]


@dataclass(slots=True)
class _Channel:
    muid: UUID
    measurement: str
    info: ObisInfo
    # ts -> (value, quality, record index) so duplicates inside one batch are detected.
    readings: dict[datetime, tuple[float, str, int]] = field(default_factory=dict)
    conflicts: set[datetime] = field(default_factory=set)


@dataclass(slots=True)
class NormalizeResult:
    batches: list[ReadingBatch]
    dead_letters: list[DeadLetter]
    records_in: int

    @property
    def readings_out(self) -> int:
        return sum(len(b.readings) for b in self.batches)


def normalize(raw: RawBatch, *, now: datetime | None = None) -> NormalizeResult:
    """Decode every record of a raw batch; bad records become dead letters, good ones still go through."""
    failed_at = now or datetime.now(UTC)
    channels: dict[_ChannelKey, _Channel] = {}
    dead: list[DeadLetter] = []

    def reject(record: Any, error: RecordRejected) -> None:
        dead.append(
            DeadLetter(
                reason=error.reason,
                message=error.message,
                stage="normalizer",
                record=record,
                source=raw.source,
                failed_at=failed_at,
            )
        )

    for index, record in enumerate(raw.records):
        try:
            muid, ts, measurement, quality = parse_envelope(record)
        except RecordRejected as error:
            reject(record, error)
            continue
        if len(record) <= len(_ENVELOPE_KEYS):
            reject(record, RecordRejected(DlqReason.NO_READINGS, "record has no OBIS value key"))
            continue
        for obis_key in record.keys() - _ENVELOPE_KEYS:
            try:
                info = decode_channel(obis_key)
                value = parse_value(obis_key, record[obis_key])
            except RecordRejected as error:
                reject({k: v for k, v in record.items() if k in _ENVELOPE_KEYS or k == obis_key}, error)
                continue
            key = (record["tags"]["muid"], info.hex, measurement)
            channel = channels.get(key)
            if channel is None:
                channel = channels[key] = _Channel(muid, measurement, info)
            add_reading(channel, ts, value, quality, index)

    batches: list[ReadingBatch] = []
    for channel in channels.values():
        for ts in sorted(channel.conflicts):
            _, _, index = channel.readings.pop(ts)
            reject(
                raw.records[index],
                RecordRejected(
                    DlqReason.DUPLICATE_CONFLICT,
                    f"timestamp {ts.isoformat()} appears more than once for meter {channel.muid} "
                    f"channel {channel.info.obis} with different values; none of them was kept",
                ),
            )
        if channel.readings:
            batches.append(build_batch(channel, raw.source))
    return NormalizeResult(batches=batches, dead_letters=dead, records_in=len(raw.records))


def parse_envelope(record: Any) -> tuple[UUID, datetime, str, str]:
    """Return muid, interval start (UTC), measurement and quality of a record, or reject it."""
    if not isinstance(record, dict):
        raise RecordRejected(DlqReason.INVALID_SHAPE, f"record is a {type(record).__name__}, not an object")
    measurement = record.get("measurement")
    if measurement not in _MEASUREMENTS:
        raise RecordRejected(
            DlqReason.INVALID_SHAPE,
            f"measurement must be one of {sorted(_MEASUREMENTS)}, got {measurement!r}",
        )
    tags = record.get("tags")
    if not isinstance(tags, dict):
        raise RecordRejected(DlqReason.MISSING_MUID, "record has no tags object with a muid")
    muid = parse_muid(tags.get("muid"))
    ts = parse_timestamp(record.get("timestamp"))
    quality = tags.get("quality", "unknown")
    if not isinstance(quality, str) or not quality:
        raise RecordRejected(DlqReason.INVALID_SHAPE, f"tags.quality must be a non-empty string, got {quality!r}")
    return muid, ts, measurement, quality


def parse_muid(value: Any) -> UUID:
    if isinstance(value, str):
        return _muid_from_text(value)
    if value is None:
        raise RecordRejected(DlqReason.MISSING_MUID, "tags.muid is missing")
    raise RecordRejected(DlqReason.INVALID_MUID, f"tags.muid must be a UUID string, got {value!r}")


# A raw batch holds thousands of records of a few meters and channels: parse each distinct text once.
@lru_cache(maxsize=65_536)
def _muid_from_text(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise RecordRejected(DlqReason.INVALID_MUID, f"tags.muid {value!r} is not a UUID") from None


def parse_timestamp(value: Any) -> datetime:
    if value is None:
        raise RecordRejected(DlqReason.MISSING_TIMESTAMP, "timestamp is missing")
    if not isinstance(value, str):
        raise RecordRejected(DlqReason.INVALID_TIMESTAMP, f"timestamp must be an ISO 8601 string, got {value!r}")
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise RecordRejected(DlqReason.INVALID_TIMESTAMP, f"timestamp {value!r} is not ISO 8601") from None
    if ts.tzinfo is UTC:  # the source's 'Z' form: nothing to convert
        return ts
    if ts.tzinfo is None:
        # The source promises UTC with a 'Z'; a naive time could be any zone, so it is not trusted.
        raise RecordRejected(DlqReason.INVALID_TIMESTAMP, f"timestamp {value!r} has no UTC offset")
    return ts.astimezone(UTC)


@lru_cache(maxsize=4_096)
def decode_channel(obis_key: str) -> ObisInfo:
    try:
        return decode(obis_key)
    except ObisError as error:
        raise RecordRejected(DlqReason.INVALID_OBIS, f"key {obis_key!r} is not an OBIS code: {error}") from None


def parse_value(obis_key: str, value: Any) -> float:
    # bool is an int subclass in Python, but true/false is no meter reading.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRejected(DlqReason.INVALID_VALUE, f"value of {obis_key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise RecordRejected(DlqReason.NON_FINITE_VALUE, f"value of {obis_key} is {value!r}")
    return number


def add_reading(channel: _Channel, ts: datetime, value: float, quality: str, index: int) -> None:
    previous = channel.readings.get(ts)
    if previous is None:
        channel.readings[ts] = (value, quality, index)
    elif (previous[0], previous[1]) != (value, quality):
        channel.conflicts.add(ts)
    # An exact repeat of a reading is harmless: it is kept once.


def build_batch(channel: _Channel, source: SourcePosition) -> ReadingBatch:
    ordered = sorted(channel.readings.items())
    info = channel.info
    # Every field was checked above, so the model is built without validating it again (a tenth of the
    # normalizer's time); consumers validate on read.
    return ReadingBatch.model_construct(
        muid=channel.muid,
        obis=info.obis,
        obis_hex=info.hex,
        quantity=info.quantity,
        direction=info.direction,
        unit=info.unit,
        measurement=channel.measurement,
        interval_s=infer_interval_s([ts for ts, _ in ordered]),
        readings=[(ts, value, quality) for ts, (value, quality, _) in ordered],
        # The record's index in the object: with the object's last-modified time, the reading's version.
        record_indexes=[source.record_start + index for _, (_, _, index) in ordered],
        source=source,
    )


def infer_interval_s(timestamps: list[datetime]) -> int | None:
    """The smallest step between consecutive readings: the capture period of a load profile."""
    steps = [int((b - a).total_seconds()) for a, b in itertools.pairwise(timestamps)]
    return min(steps) if steps else None
