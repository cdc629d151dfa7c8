"""The writer's boundary check: the readings rules of docs/contracts.md ("Validation"), applied again to every
message, whoever produced it (the normalizer decides first; a producer that skips it must not store bad
values). Pure: a message in, the message cut down to its good readings and the dead letters out.

Rules, each with its DLQ reason: an ``obis`` that is not the normalized form of a valid code rejects the
whole message (invalid_obis); per reading, a NaN or infinite value (non_finite_value, so NaN never reaches
the plain-PostgreSQL hourly rollup, which adds and subtracts), a timestamp before 2000 or more than two days
after now (timestamp_out_of_range), a negative value on an energy register or interval delta, net energy
excepted (negative_energy, meterflow_obis.forbids_negative), an energy timestamp off its channel's interval
grid where that interval divides an hour (off_grid_timestamp). The same rules as the normalizer's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from meterflow_contracts import DeadLetter, DlqReason, Reading, ReadingBatch
from meterflow_obis import ObisError, decode, forbids_negative, is_valid, parse

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=2)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZERO = timedelta(0)
DAY_SECONDS = 86_400
# Only capture periods that divide an hour define a UTC grid (the normalizer's rule): a daily register read
# at local midnight is on no UTC-day grid.
GRID_PERIOD_S = 3_600


@dataclass(frozen=True, slots=True)
class Screened:
    """A message after the boundary check: what to write (None when nothing) and what to dead-letter."""

    kept: ReadingBatch | None
    dead: list[DeadLetter]

    @property
    def rejected_readings(self) -> int:
        return sum(len(d.record["readings"]) for d in self.dead if isinstance(d.record, dict))


@dataclass(frozen=True, slots=True)
class _Channel:
    valid: bool
    no_negative: bool


@lru_cache(maxsize=4_096)
def _channel(obis: str) -> _Channel:
    try:
        code = parse(obis)
    except (ObisError, TypeError):
        return _Channel(valid=False, no_negative=False)
    valid = code.normalized == obis and is_valid(code)
    return _Channel(valid=valid, no_negative=valid and forbids_negative(decode(code)))


def screen(batch: ReadingBatch, now: datetime) -> Screened:
    """Check every reading of ``batch`` at ``now``; the good ones are kept in order, each bad one is in
    the dead letter of its reason (one per reason, holding the message cut down to those readings)."""
    channel = _channel(batch.obis)
    if not channel.valid:
        detail = f"obis {batch.obis!r} is not the normalized form of a valid OBIS code"
        return Screened(None, [_dead_letter(batch, DlqReason.INVALID_OBIS, detail, range(len(batch.readings)), now)])
    energy = batch.quantity.endswith("_energy")
    no_negative = channel.no_negative
    on_grid = energy and batch.interval_s and batch.interval_s > 0 and GRID_PERIOD_S % batch.interval_s == 0
    interval = batch.interval_s if on_grid else None
    latest = now + FUTURE_SLACK
    bad: dict[DlqReason, list[int]] = {}
    for index in _failing(batch.readings, latest, no_negative, interval):
        ts, value, _ = batch.readings[index]
        bad.setdefault(_reason(ts, value, latest, no_negative), []).append(index)
    if not bad:
        return Screened(batch, [])
    dead = [_dead_letter(batch, reason, _DETAILS[reason], indexes, now) for reason, indexes in bad.items()]
    rejected = {index for indexes in bad.values() for index in indexes}
    return Screened(_without(batch, rejected), dead)


def _failing(readings: Sequence[Reading], latest: datetime, no_negative: bool, interval: int | None) -> list[int]:
    """Indexes of the readings that break a rule; one pass, cheap in the common case where nothing does.

    This runs for every reading the writer takes, so it avoids aware-datetime arithmetic, which asks both
    operands for their UTC offset: a message's timestamps share one fixed-offset tzinfo object (the
    contract's parser gives them one), and with the bounds expressed in that same tzinfo, comparisons and
    differences are plain field arithmetic. A reading in another tzinfo takes the general test.
    """
    tz = readings[0][0].tzinfo
    if tz is None or tz.utcoffset(None) is None:  # not a fixed offset: no shortcut
        return [i for i, (ts, v, _) in enumerate(readings) if _breaks(ts, v, latest, no_negative, interval)]
    earliest, last, epoch = EARLIEST.astimezone(tz), latest.astimezone(tz), EPOCH.astimezone(tz)
    # An interval dividing a day (every usual one) only needs the seconds within the day.
    day_grid = interval is not None and DAY_SECONDS % interval == 0
    failing: list[int] = []
    for index, (ts, value, _) in enumerate(readings):
        if ts.tzinfo is not tz:
            if _breaks(ts, value, latest, no_negative, interval):
                failing.append(index)
        elif not math.isfinite(value) or not earliest <= ts <= last or (no_negative and value < 0):
            failing.append(index)
        elif interval is not None:
            since = ts - epoch
            if (since.seconds % interval or since.microseconds) if day_grid else since % timedelta(seconds=interval):
                failing.append(index)
    return failing


def _breaks(ts: datetime, value: float, latest: datetime, no_negative: bool, interval: int | None) -> bool:
    return (
        not math.isfinite(value)
        or not EARLIEST <= ts <= latest
        or (no_negative and value < 0)
        or (interval is not None and (ts - EPOCH) % timedelta(seconds=interval) != ZERO)
    )


def _reason(ts: datetime, value: float, latest: datetime, no_negative: bool) -> DlqReason:
    if not math.isfinite(value):
        return DlqReason.NON_FINITE_VALUE
    if not EARLIEST <= ts <= latest:
        return DlqReason.TIMESTAMP_OUT_OF_RANGE
    if no_negative and value < 0:
        return DlqReason.NEGATIVE_ENERGY
    return DlqReason.OFF_GRID_TIMESTAMP


_DETAILS = {
    DlqReason.NON_FINITE_VALUE: "value is NaN or infinite",
    DlqReason.TIMESTAMP_OUT_OF_RANGE: "timestamp before 2000-01-01 or more than 2 days after now",
    DlqReason.NEGATIVE_ENERGY: "negative value on an energy register or interval delta",
    DlqReason.OFF_GRID_TIMESTAMP: "timestamp not on the channel's interval grid",
}


def _without(batch: ReadingBatch, rejected: set[int]) -> ReadingBatch | None:
    keep = [i for i in range(len(batch.readings)) if i not in rejected]
    if not keep:
        return None
    return batch.model_copy(update=_subset(batch, keep))


def _subset(batch: ReadingBatch, indexes: Sequence[int]) -> dict[str, object]:
    update: dict[str, object] = {"readings": [batch.readings[i] for i in indexes]}
    if batch.record_indexes is not None:
        update["record_indexes"] = [batch.record_indexes[i] for i in indexes]
    return update


def _dead_letter(
    batch: ReadingBatch, reason: DlqReason, detail: str, indexes: Sequence[int], now: datetime
) -> DeadLetter:
    evidence = batch.model_copy(update=_subset(batch, indexes))
    return DeadLetter(
        reason=reason,
        message=f"{len(indexes)} of {len(batch.readings)} readings of meter {batch.muid} {batch.obis}: {detail}",
        stage="writer",
        # JSON mode writes NaN and infinities as null: the message above says which they were.
        record=evidence.model_dump(mode="json"),
        source=batch.source,
        failed_at=now,
    )
