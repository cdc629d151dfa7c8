"""The rules one record, one value and one channel's timestamps are judged by (docs/contracts.md,
"Validation"), without I/O: what raises RecordRejected with its reason, and the caches that make the usual
record cheap (a fleet shares its timestamp texts, a batch its meters and OBIS keys)."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final
from uuid import UUID

from meterflow_contracts import DlqReason
from meterflow_contracts.columnar import datetime_of, micros_of
from meterflow_kit.dead_letters import MAX_ERROR_CHARS
from meterflow_obis import ObisError, ObisInfo, decode, validate

from meterflow_normalizer.errors import RecordRejected

# Keys of a source record that are not OBIS channels.
ENVELOPE_KEYS = frozenset({"measurement", "timestamp", "tags"})
MEASUREMENTS = frozenset({"energy", "power"})

# Readings before smart meters existed, or ahead of the clock by more than a clock skew and a time zone,
# are typing errors of a source, not data.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
MAX_AHEAD: Final = timedelta(days=2)
# Load-profile intervals that divide an hour sit on the UTC grid in every whole-hour time zone; coarser
# ones (daily registers) follow local midnight, so their grid is not checked. Every UTC hour starts on a
# multiple of such an interval in epoch seconds, so a timestamp's minutes and seconds tell its place.
_GRID_PERIOD_S: Final = 3_600
SECOND_US: Final = 1_000_000
EARLIEST_US: Final = micros_of(EARLIEST)


def unexpected(error: Exception) -> RecordRejected:
    return RecordRejected(DlqReason.UNEXPECTED_ERROR, f"normalizing failed: {error!r}"[:MAX_ERROR_CHARS])


def channel_evidence(record: Any, obis_key: str) -> Any:
    """The record cut down to its envelope and one channel: the evidence of that channel's dead letter."""
    if not isinstance(record, dict):
        return record
    return {k: v for k, v in record.items() if k in ENVELOPE_KEYS or k == obis_key}


def parse_envelope(record: Any, latest: int) -> tuple[UUID, int, str, str]:
    """Return muid, interval start (microseconds since 1970, UTC), measurement and quality of a record, or
    reject it. A timestamp after ``latest`` (microseconds) is out of range."""
    if not isinstance(record, dict):
        raise RecordRejected(DlqReason.INVALID_SHAPE, f"record is a {type(record).__name__}, not an object")
    measurement = record.get("measurement")
    if measurement not in MEASUREMENTS:
        raise RecordRejected(
            DlqReason.INVALID_SHAPE,
            f"measurement must be one of {sorted(MEASUREMENTS)}, got {measurement!r}",
        )
    tags = record.get("tags")
    if not isinstance(tags, dict):
        raise RecordRejected(DlqReason.MISSING_MUID, "record has no tags object with a muid")
    muid_text = tags.get("muid")
    # The usual texts go straight to their caches; anything else takes the full rules.
    muid = muid_from_text(muid_text) if type(muid_text) is str else parse_muid(muid_text)
    stamp = record.get("timestamp")
    ts = micros_from_text(stamp) if type(stamp) is str else timestamp_micros(stamp)
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
        return muid_from_text(value)
    if value is None:
        raise RecordRejected(DlqReason.MISSING_MUID, "tags.muid is missing")
    raise RecordRejected(DlqReason.INVALID_MUID, f"tags.muid must be a UUID string, got {value!r}")


# A raw batch holds thousands of records of a few meters and channels: parse each distinct text once.
@lru_cache(maxsize=65_536)
def muid_from_text(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise RecordRejected(DlqReason.INVALID_MUID, f"tags.muid {value!r} is not a UUID") from None


def timestamp_micros(value: Any) -> int:
    """The interval start of a record's timestamp as microseconds since 1970 (UTC), or a rejection."""
    if isinstance(value, str):
        return micros_from_text(value)
    parse_timestamp(value)  # raises the rejection of a missing or non-text timestamp
    raise AssertionError("unreachable")  # pragma: no cover


# The records of a fleet share their timestamp texts (every meter reads at the same quarter hours).
@lru_cache(maxsize=65_536)
def micros_from_text(value: str) -> int:
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
        (count, -(step // SECOND_US))
        for step, count in steps.items()
        if step % SECOND_US == 0 and step // SECOND_US > 0 and _GRID_PERIOD_S % (step // SECOND_US) == 0
    ]
    return -max(candidates)[1] if candidates else None


def off_grid(ts: int, interval_s: int) -> bool:
    """Whether a timestamp (microseconds since 1970) is off the grid of ``interval_s``, a divisor of an hour
    (so that its place within the UTC hour is its epoch seconds modulo the interval)."""
    return bool(ts % SECOND_US or (ts // SECOND_US) % interval_s)


def all_on_grid(first: int, steps: Counter[int], interval_s: int) -> bool:
    """Whether every timestamp is on the grid, from the first and the few distinct steps: no loop over the
    readings in the usual case."""
    interval_us = interval_s * SECOND_US
    return not off_grid(first, interval_s) and all(step % interval_us == 0 for step in steps)
