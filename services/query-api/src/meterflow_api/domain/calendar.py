"""Calendar arithmetic of series: bucket sizes, range checks, the buckets covering a range in a time zone,
and whether a series can be summed from the hourly rollup.

All instants are timezone-aware; they travel in UTC and are shown in the requested zone.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from meterflow_api.domain.params import quoted
from meterflow_api.errors import InvalidRequest, ParamError

ONE_MICROSECOND: Final = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Interval:
    """A bucket size. Fixed intervals are absolute durations aligned to the zone's wall clock;
    calendar intervals follow the zone's calendar (a day is 23 to 25 hours across DST changes)."""

    name: str
    fixed: timedelta | None
    trunc: str | None  # date_trunc field of calendar intervals: day, week (ISO, Monday), month
    months: int
    days: int
    max_range: timedelta
    max_label: str

    @property
    def calendar(self) -> bool:
        return self.fixed is None


INTERVALS: Final[dict[str, Interval]] = {
    "15m": Interval("15m", timedelta(minutes=15), None, 0, 0, timedelta(days=31), "31 days"),
    "1h": Interval("1h", timedelta(hours=1), None, 0, 0, timedelta(days=366), "366 days"),
    "1d": Interval("1d", None, "day", 0, 1, timedelta(days=3653), "10 years (3653 days)"),
    "1w": Interval("1w", None, "week", 0, 7, timedelta(days=7305), "20 years (7305 days)"),
    "1mo": Interval("1mo", None, "month", 1, 0, timedelta(days=36525), "100 years (36525 days)"),
}
# Ranges of the endpoints that read raw rows without bucketing them.
MAX_ANALYSIS_RANGE: Final = timedelta(days=3653)
MAX_ANALYSIS_LABEL: Final = "10 years (3653 days)"
MAX_ACF_RANGE: Final = timedelta(days=366)
MAX_ACF_LABEL: Final = "366 days"


def parse_interval(text: str) -> Interval:
    found = INTERVALS.get(text)
    if found is None:
        raise ParamError(f"unknown interval {quoted(text)}: use one of {', '.join(INTERVALS)}")
    return found


def wall_clock_span(start: datetime, end: datetime, zone: ZoneInfo) -> timedelta:
    """Length of [start, end) on the zone's wall clock: October in Zurich is 31 days, not 31 days + 1 h."""
    return _local_naive(end, zone) - _local_naive(start, zone)


def check_order(start: datetime, end: datetime, zone: ZoneInfo) -> None:
    if start >= end:
        raise InvalidRequest.one(
            ("query", "start"),
            f"start ({start.astimezone(zone).isoformat()}) must be before end ({end.astimezone(zone).isoformat()}); "
            "when one of them is omitted it defaults to the channel's first or last reading",
        )


def check_range(start: datetime, end: datetime, zone: ZoneInfo, maximum: timedelta, label: str, what: str) -> None:
    check_order(start, end, zone)
    span = wall_clock_span(start, end, zone)
    if span > maximum:
        raise InvalidRequest.one(
            ("query", "end"),
            f"range too large for {what}: at most {label}, got {_days(span)} days "
            f"({start.astimezone(zone).isoformat()} to {end.astimezone(zone).isoformat()}); narrow start/end",
        )


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:.0f}" if days == int(days) else f"{days:.2f}"


def _local_naive(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _to_utc(local: datetime, zone: ZoneInfo) -> datetime:
    """Wall-clock time in ``zone`` to UTC; fold=0: the offset before a DST change (as PostgreSQL does)."""
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def bucket_floor(instant: datetime, interval: Interval, zone: ZoneInfo) -> datetime:
    """Start (UTC) of the bucket holding ``instant``."""
    local = instant.astimezone(zone)
    if interval.fixed is not None:
        step_min = interval.fixed // timedelta(minutes=1)
        minute_of_day = local.hour * 60 + local.minute
        minute_of_day -= minute_of_day % step_min
        # replace() keeps fold, so the repeated hour of an autumn DST change stays the one we were in.
        floored = local.replace(hour=minute_of_day // 60, minute=minute_of_day % 60, second=0, microsecond=0)
        return floored.astimezone(UTC)
    return _to_utc(_calendar_floor_local(local.replace(tzinfo=None), interval), zone)


def _calendar_floor_local(local: datetime, interval: Interval) -> datetime:
    day = local.date()
    if interval.trunc == "week":
        day -= timedelta(days=day.weekday())
    elif interval.trunc == "month":
        day = day.replace(day=1)
    return datetime.combine(day, time())


def _add_calendar(local: datetime, interval: Interval, count: int = 1) -> datetime:
    if interval.months:
        month_index = local.year * 12 + (local.month - 1) + interval.months * count
        return local.replace(year=month_index // 12, month=month_index % 12 + 1)
    return local + timedelta(days=interval.days * count)


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    """Everything the series SQL needs. Fixed intervals: the first and last bucket start (UTC) and the step;
    calendar intervals: the first and last bucket start as wall-clock times in the zone."""

    interval: Interval
    zone: ZoneInfo
    start: datetime  # requested range, UTC: readings are filtered to [start, end)
    end: datetime
    first_utc: datetime
    last_utc: datetime
    first_local: datetime
    last_local: datetime

    @property
    def buckets(self) -> int:
        if self.interval.fixed is not None:
            return (self.last_utc - self.first_utc) // self.interval.fixed + 1
        count = 0
        cursor = self.first_local
        while cursor <= self.last_local:
            count += 1
            cursor = _add_calendar(self.first_local, self.interval, count)
        return count


def plan_series(start: datetime, end: datetime, interval: Interval, zone: ZoneInfo) -> SeriesPlan:
    """Buckets covering [start, end): every bucket that overlaps the range, whole (bounds on bucket edges).

    Raises InvalidRequest when start is not before end or the range exceeds the interval's maximum.
    """
    check_range(start, end, zone, interval.max_range, interval.max_label, f"interval={interval.name}")
    last_instant = end - ONE_MICROSECOND
    if interval.fixed is not None:
        first = bucket_floor(start, interval, zone)
        # One absolute grid from the first bucket on, so SQL's date_bin(step, ts, first) agrees with us.
        last = first + ((last_instant - first) // interval.fixed) * interval.fixed
        return SeriesPlan(interval, zone, start, end, first, last, _local_naive(first, zone), _local_naive(last, zone))
    first_local = _calendar_floor_local(_local_naive(start, zone), interval)
    last_local = _calendar_floor_local(_local_naive(last_instant, zone), interval)
    return SeriesPlan(
        interval, zone, start, end, _to_utc(first_local, zone), _to_utc(last_local, zone), first_local, last_local
    )


def bucket_edges(plan: SeriesPlan) -> list[datetime]:
    """The bounds (UTC) of the plan's buckets in order, each once: n buckets have n + 1 edges. The reference
    the SQL must reproduce."""
    if plan.interval.fixed is not None:
        step = plan.interval.fixed
        count = (plan.last_utc - plan.first_utc) // step + 1
        return [plan.first_utc + index * step for index in range(count + 1)]
    return list(_calendar_edges(plan.interval, plan.zone, plan.first_local, plan.last_local))


@functools.lru_cache(maxsize=1024)
def _calendar_edges(
    interval: Interval, zone: ZoneInfo, first_local: datetime, last_local: datetime
) -> tuple[datetime, ...]:
    # Cached: pure calendar arithmetic (about 5 µs per edge), and series ask for the same months again and again.
    local_edges = [first_local]
    while local_edges[-1] <= last_local:
        local_edges.append(_add_calendar(first_local, interval, len(local_edges)))
    return tuple(_to_utc(local, zone) for local in local_edges)


def bucket_bounds(plan: SeriesPlan) -> Iterator[tuple[datetime, datetime]]:
    """(start, end) in UTC of every bucket of the plan, in order."""
    edges = bucket_edges(plan)
    return itertools.pairwise(edges)


ONE_HOUR: Final = timedelta(hours=1)


def _whole_utc_hour(instant: datetime) -> bool:
    """For UTC instants (as bucket_edges gives them): on the hour."""
    return instant.minute == instant.second == instant.microsecond == 0


def hourly_rollup_plan(plan: SeriesPlan, open_end: bool) -> tuple[SeriesPlan, list[datetime]] | None:
    """The plan and its bucket edges (UTC, see bucket_edges) when the series can be summed from hourly (UTC)
    rollups: every bucket edge and both ends of the range on a whole UTC hour, as in every zone with
    whole-hour offsets for 1h/1d/1w/1mo buckets. None otherwise (15m buckets, Asia/Kolkata, a range starting
    at 00:15, ...).

    ``open_end``: end was left out, so it is just after the last reading; rounding it up to the next hour
    adds no reading and no bucket (bucket edges are whole hours), and makes the range whole hours."""
    if plan.interval.fixed is not None and plan.interval.fixed % ONE_HOUR:
        return None
    start, end = plan.start.astimezone(UTC), plan.end.astimezone(UTC)
    if open_end and not _whole_utc_hour(end):
        end = end.replace(minute=0, second=0, microsecond=0) + ONE_HOUR
    if not (_whole_utc_hour(start) and _whole_utc_hour(end)):
        return None
    edges = bucket_edges(plan)
    if end > edges[-1] or not all(map(_whole_utc_hour, edges)):
        return None
    return replace(plan, start=start, end=end), edges


def shown(instant: datetime, zone: ZoneInfo) -> datetime:
    """An instant as the response shows it: in ``zone`` (UTC ones as they are)."""
    return instant if zone.key == "UTC" else _in_zone(instant, zone)


@functools.lru_cache(maxsize=4096)
def _in_zone(instant: datetime, zone: ZoneInfo) -> datetime:
    # Cached: series show the same bucket bounds again and again, and astimezone costs a few µs each.
    return instant.astimezone(zone)
