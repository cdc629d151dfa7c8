"""Pure normalization: raw source records -> typed reading batches per meter and channel, plus dead letters.

No I/O here; the Faust agent in main.py feeds raw batches in and publishes what comes out. Every record is
judged on its own (docs/contracts.md, "Validation"): a bad record, or a bad channel of a record, becomes a
dead letter with its reason, and any other exception raised while reading one record is caught and
dead-lettered as ``unexpected_error``, so one hostile record never costs the rest of its batch.
"""

from __future__ import annotations

import itertools
import json
import math
import operator
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from math import isfinite
from typing import Any, Final
from uuid import UUID

from meterflow_contracts import RAW, DeadLetter, DlqReason, RawBatch, ReadingBatch, ReadingColumns, SourcePosition
from meterflow_contracts.columnar import datetime_of, micros_of, to_batch
from meterflow_kit.dead_letters import MAX_ERROR_CHARS
from meterflow_obis import ObisError, ObisInfo, decode, forbids_negative, is_energy, validate

from meterflow_normalizer.errors import RecordRejected

# Keys of a source record that are not OBIS channels.
_ENVELOPE_KEYS = frozenset({"measurement", "timestamp", "tags"})
_MEASUREMENTS = frozenset({"energy", "power"})

# Readings before smart meters existed, or ahead of the clock by more than a clock skew and a time zone,
# are typing errors of a source, not data.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD: Final = timedelta(days=2)
# Load-profile intervals that divide an hour sit on the UTC grid in every whole-hour time zone; coarser
# ones (daily registers) follow local midnight, so their grid is not checked. Every UTC hour starts on a
# multiple of such an interval in epoch seconds, so a timestamp's minutes and seconds tell its place.
_GRID_PERIOD_S: Final = 3_600
_SECOND_US: Final = 1_000_000
EARLIEST_US: Final = micros_of(EARLIEST)

# (muid text, OBIS hex, measurement): plain strings hash far faster than UUIDs or dataclasses,
# and this key is looked up once per reading.
_ChannelKey = tuple[str, str, str]
# One reading while a batch is built: value, quality, record index, source OBIS key. Readings are keyed by
# their interval start as integer microseconds since 1970 (UTC): hashed and sorted far faster than datetimes,
# and what the columnar v2 message carries.
_Reading = tuple[float, str, int, str]


@dataclass(slots=True)
class _Channel:
    muid: UUID
    measurement: str
    info: ObisInfo
    energy: bool
    forbids_negative: bool
    readings: dict[int, _Reading] = field(default_factory=dict)


@dataclass(slots=True)
class NormalizeResult:
    """The readings of a raw batch, one columnar message (meter.readings.v2) per meter and channel, and its
    dead letters. ``batches`` is the same readings in the v1 form, built on demand."""

    columns: list[ReadingColumns]
    dead_letters: list[DeadLetter]
    records_in: int

    @property
    def batches(self) -> list[ReadingBatch]:
        """The v1 form: costly (a datetime and a tuple per reading), so only for v1 subscribers and tests."""
        return [to_batch(columns) for columns in self.columns]

    @property
    def readings_out(self) -> int:
        return sum(len(c.ts_us) for c in self.columns)


def decode_raw(value: bytes) -> RawBatch:
    """The raw batch of a message; raises ValueError when it is none. orjson reads it fast but refuses
    numbers beyond a double (``1e400``, a 400-digit integer) and the NaN/Infinity literals; the standard
    library's parser reads those too, so one such record costs only itself (a ``non_finite_value`` dead
    letter), not the whole message."""
    try:
        return RAW.deserialize(value)
    except ValueError as error:
        try:
            return RawBatch.model_validate(json.loads(value))
        except ValueError:
            raise error from None


def normalize(raw: RawBatch, *, now: datetime | None = None) -> NormalizeResult:
    """Decode every record of a raw batch; bad records become dead letters, good ones still go through."""
    return _BatchNormalizer(raw, now or datetime.now(UTC)).run()


class _BatchNormalizer:
    """The state of one raw batch while its records are read: channels so far and dead letters."""

    def __init__(self, raw: RawBatch, now: datetime) -> None:
        self.raw = raw
        self.now = now
        self.latest = micros_of(now + MAX_AHEAD)
        self.channels: dict[_ChannelKey, _Channel] = {}
        # The same channels by the record's own spelling (muid text, OBIS key, measurement): what a record
        # shows, so the usual reading finds its channel without decoding the OBIS key again.
        self.spelled: dict[tuple[str, str, str], _Channel] = {}
        self.dead: list[DeadLetter] = []

    def run(self) -> NormalizeResult:
        for index, record in enumerate(self.raw.records):
            try:
                self.add_record(index, record)
            except RecordRejected as error:
                self.reject(record, error)
            except Exception as error:  # one record must never cost the others
                self.reject(record, unexpected(error))
        columns: list[ReadingColumns] = []
        for channel in self.channels.values():
            if channel.energy:
                self.drop_off_grid(channel)
            if channel.readings:
                columns.append(build_columns(channel, self.raw.source, self.raw.tenant))
        return NormalizeResult(columns=columns, dead_letters=self.dead, records_in=len(self.raw.records))

    def reject(self, record: Any, error: RecordRejected) -> None:
        self.dead.append(
            DeadLetter(
                reason=error.reason,
                message=error.message,
                stage="normalizer",
                record=record,
                source=self.raw.source,
                failed_at=self.now,
            )
        )

    def add_record(self, index: int, record: Any) -> None:
        muid, ts, measurement, quality = parse_envelope(record, self.latest)
        if len(record) <= len(_ENVELOPE_KEYS):
            raise RecordRejected(DlqReason.NO_READINGS, "record has no OBIS value key")
        muid_text = record["tags"]["muid"]
        # Inlined lookups: this loop runs once per reading, the normalizer's hottest path.
        spelled = self.spelled
        for obis_key in record.keys():  # noqa: SIM118 (a record's own keys(): whatever it raises is its own)
            if obis_key in _ENVELOPE_KEYS:
                continue
            try:
                value = record[obis_key]
                channel = spelled.get((muid_text, obis_key, measurement))
                if channel is None:
                    channel = self.channel_of(muid_text, muid, obis_key, measurement)
                # A finite double is the usual value: anything else takes the full rules.
                if type(value) is not float or not isfinite(value) or (value < 0 and channel.forbids_negative):
                    value = parse_value(obis_key, value, channel.forbids_negative)
                reading = (value, quality, index, obis_key)
                previous = channel.readings.get(ts)
                if previous is None:
                    channel.readings[ts] = reading
                else:
                    self.add_repeat(channel, ts, previous, reading)
            except RecordRejected as error:
                self.reject(channel_evidence(record, obis_key), error)
            except Exception as error:  # nor one channel the record's others
                self.reject(channel_evidence(record, obis_key), unexpected(error))

    def channel_of(self, muid_text: str, muid: UUID, obis_key: str, measurement: str) -> _Channel:
        """The channel of an OBIS key not seen in this spelling yet (raises for an invalid key)."""
        info = decode_channel(obis_key)
        channel = self.channels.get((muid_text, info.hex, measurement))
        if channel is None:
            channel = _Channel(muid, measurement, info, is_energy(info), forbids_negative(info))
            self.channels[(muid_text, info.hex, measurement)] = channel
        self.spelled[(muid_text, obis_key, measurement)] = channel
        return channel

    def add_repeat(self, channel: _Channel, ts: int, previous: _Reading, reading: _Reading) -> None:
        """A second reading of a channel at the same time: an exact repeat is harmless and kept once; another
        value means the later record of the object is the source's last word, so it wins and the earlier one
        goes to the DLQ as evidence."""
        if (previous[0], previous[1]) == (reading[0], reading[1]):
            return
        channel.readings[ts] = reading
        self.reject(
            channel_evidence(self.raw.records[previous[2]], previous[3]),
            RecordRejected(
                DlqReason.DUPLICATE_CONFLICT,
                f"timestamp {datetime_of(ts).isoformat()} appears again for meter {channel.muid} channel "
                f"{channel.info.obis} with another value in record {reading[2]} of the batch, which was kept",
            ),
        )

    def drop_off_grid(self, channel: _Channel) -> None:
        stamps = sorted(channel.readings)
        steps: Counter[int] = Counter(map(operator.sub, stamps[1:], stamps[:-1]))
        interval = grid_interval_s(steps)
        if interval is None or all_on_grid(stamps[0], steps, interval):
            return
        for ts in stamps:
            if off_grid(ts, interval):
                _, _, index, obis_key = channel.readings.pop(ts)
                self.reject(
                    channel_evidence(self.raw.records[index], obis_key),
                    RecordRejected(
                        DlqReason.OFF_GRID_TIMESTAMP,
                        f"timestamp {datetime_of(ts).isoformat()} is not on the {interval} s grid of channel "
                        f"{channel.info.obis} of meter {channel.muid}",
                    ),
                )


def unexpected(error: Exception) -> RecordRejected:
    return RecordRejected(DlqReason.UNEXPECTED_ERROR, f"normalizing failed: {error!r}"[:MAX_ERROR_CHARS])


def channel_evidence(record: Any, obis_key: str) -> Any:
    """The record cut down to its envelope and one channel: the evidence of that channel's dead letter."""
    if not isinstance(record, dict):
        return record
    return {k: v for k, v in record.items() if k in _ENVELOPE_KEYS or k == obis_key}


def parse_envelope(record: Any, latest: int) -> tuple[UUID, int, str, str]:
    """Return muid, interval start (microseconds since 1970, UTC), measurement and quality of a record, or
    reject it. A timestamp after ``latest`` (microseconds) is out of range."""
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
    muid_text = tags.get("muid")
    # The usual texts go straight to their caches; anything else takes the full rules.
    muid = _muid_from_text(muid_text) if type(muid_text) is str else parse_muid(muid_text)
    stamp = record.get("timestamp")
    ts = _micros_from_text(stamp) if type(stamp) is str else timestamp_micros(stamp)
    if not EARLIEST_US <= ts <= latest:
        raise RecordRejected(
            DlqReason.TIMESTAMP_OUT_OF_RANGE,
            f"timestamp {datetime_of(ts).isoformat()} is before {EARLIEST.date()} or more than {MAX_AHEAD.days} days "
            "ahead of the normalizer's clock",
        )
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


def timestamp_micros(value: Any) -> int:
    """The interval start of a record's timestamp as microseconds since 1970 (UTC), or a rejection."""
    if isinstance(value, str):
        return _micros_from_text(value)
    parse_timestamp(value)  # raises the rejection of a missing or non-text timestamp
    raise AssertionError("unreachable")  # pragma: no cover


# The records of a fleet share their timestamp texts (every meter reads at the same quarter hours).
@lru_cache(maxsize=65_536)
def _micros_from_text(value: str) -> int:
    return micros_of(parse_timestamp(value))


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
    try:
        return ts.astimezone(UTC)
    except (OverflowError, ValueError):
        # 0001-01-01T00:00+05:00 is a valid text whose UTC time falls before year 1.
        raise RecordRejected(DlqReason.INVALID_TIMESTAMP, f"timestamp {value!r} has no UTC equivalent") from None


@lru_cache(maxsize=4_096)
def decode_channel(obis_key: str) -> ObisInfo:
    try:
        return decode(validate(obis_key))
    except ObisError as error:
        raise RecordRejected(DlqReason.INVALID_OBIS, f"key {obis_key!r} is not an OBIS code: {error}") from None


def parse_value(obis_key: str, value: Any, forbid_negative: bool = False) -> float:
    # bool is an int subclass in Python, but true/false is no meter reading.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RecordRejected(DlqReason.INVALID_VALUE, f"value of {obis_key} must be a number, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any double, as a streaming JSON parser may deliver
        raise RecordRejected(DlqReason.NON_FINITE_VALUE, f"value of {obis_key} does not fit a double") from None
    if not math.isfinite(number):
        raise RecordRejected(DlqReason.NON_FINITE_VALUE, f"value of {obis_key} is {value!r}")
    if forbid_negative and number < 0:
        raise RecordRejected(
            DlqReason.NEGATIVE_ENERGY, f"value of {obis_key} is {value!r}, but a register or interval never shrinks"
        )
    return number


def grid_interval_s(steps: Counter[int]) -> int | None:
    """The capture period of an energy channel from the steps (microseconds) between its sorted timestamps:
    the most frequent step that divides an hour (the shorter one on a tie), or None when there is none. The
    most frequent, not the smallest, so that one off-grid reading cannot redefine the grid of thousands."""
    candidates = [
        (count, -(step // _SECOND_US))
        for step, count in steps.items()
        if step % _SECOND_US == 0 and step // _SECOND_US > 0 and _GRID_PERIOD_S % (step // _SECOND_US) == 0
    ]
    return -max(candidates)[1] if candidates else None


def off_grid(ts: int, interval_s: int) -> bool:
    """Whether a timestamp (microseconds since 1970) is off the grid of ``interval_s``, a divisor of an hour
    (so that its place within the UTC hour is its epoch seconds modulo the interval)."""
    return bool(ts % _SECOND_US or (ts // _SECOND_US) % interval_s)


def all_on_grid(first: int, steps: Counter[int], interval_s: int) -> bool:
    """Whether every timestamp is on the grid, from the first and the few distinct steps: no loop over the
    readings in the usual case."""
    interval_us = interval_s * _SECOND_US
    return not off_grid(first, interval_s) and all(step % interval_us == 0 for step in steps)


def build_columns(channel: _Channel, source: SourcePosition, tenant: str | None = None) -> ReadingColumns:
    stamps = sorted(channel.readings)
    readings = channel.readings
    ordered = [readings[ts] for ts in stamps]
    codes: dict[str, int] = {}
    quality_codes = [codes.setdefault(reading[1], len(codes)) for reading in ordered]
    info = channel.info
    start = source.record_start
    # Every field was checked above, so the model is built without validating it again (a tenth of the
    # normalizer's time); consumers validate on read.
    return ReadingColumns.model_construct(
        muid=channel.muid,
        obis=info.obis,
        obis_hex=info.hex,
        quantity=info.quantity,
        direction=info.direction,
        unit=info.unit,
        measurement=channel.measurement,
        interval_s=min(map(operator.sub, stamps[1:], stamps[:-1])) // _SECOND_US if len(stamps) > 1 else None,
        ts_us=stamps,
        values=[reading[0] for reading in ordered],
        qualities=list(codes),
        quality_codes=quality_codes,
        # The record's index in the object: with the object's last-modified time, the reading's version.
        record_indexes=[start + reading[2] for reading in ordered],
        source=source,
        # The source's tenant binding, passed through for the writer to assign new meters with.
        tenant=tenant,
    )


def infer_interval_s(timestamps: list[datetime]) -> int | None:
    """The smallest step between consecutive readings: the capture period of a load profile."""
    steps = [int((b - a).total_seconds()) for a, b in itertools.pairwise(timestamps)]
    return min(steps) if steps else None
