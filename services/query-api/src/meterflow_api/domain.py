"""Pure logic of the query API: parameter validation, calendar buckets, cursors and the statistics maths.

Nothing here does I/O, so every rule the HTTP layer enforces is unit-testable on its own.
All instants are timezone-aware; they travel in UTC and are shown in the requested zone.
"""

from __future__ import annotations

import base64
import binascii
import functools
import itertools
import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import numpy as np
import numpy.typing as npt
from meterflow_obis import ObisCode, ObisError, decode, parse

T = TypeVar("T")
Loc = tuple[str, ...]

DEFAULT_LIMIT: Final = 1000
MAX_LIMIT: Final = 10_000
MEASUREMENT_DEFAULT_LIMIT: Final = 10_000
DEFAULT_STEP: Final = timedelta(seconds=900)
BASE_LOAD_PERCENTILE: Final = 0.10
MAX_LAGS: Final = 20
MAX_LAG: Final = 100_000
EXAMPLE_MUID: Final = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
ONE_MICROSECOND: Final = timedelta(microseconds=1)


# --- errors -------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An error the API answers with a 4xx status and a message that says what to fix."""

    status: int = 400


class NotFound(ApiError):
    status = 404


@dataclass(frozen=True, slots=True)
class Problem:
    loc: Loc
    msg: str


class InvalidRequest(ApiError):
    """One or more parameters are invalid (422); ``problems`` lists each with its location."""

    status = 422

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(p.loc)}: {p.msg}" for p in problems))
        self.problems = list(problems)

    @classmethod
    def one(cls, loc: Loc, msg: str) -> InvalidRequest:
        return cls([Problem(loc, msg)])


class ParamError(ValueError):
    """Raised by a single parser; the caller knows which parameter it was."""


@dataclass(slots=True)
class Problems:
    """Collects parameter errors so one 422 answer names every wrong parameter, not just the first."""

    items: list[Problem] = field(default_factory=list)

    def attempt(self, loc: Loc, parser: Callable[[], T]) -> T | None:
        try:
            return parser()
        except ParamError as error:
            self.items.append(Problem(loc, str(error)))
            return None

    def add(self, loc: Loc, msg: str) -> None:
        self.items.append(Problem(loc, msg))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidRequest(self.items)


# --- scalar parameters --------------------------------------------------------------------------------------


def parse_muid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ParamError(f"{_shown(text)} is not a meter id: expected a UUID such as {EXAMPLE_MUID}") from None


def parse_obis(text: str) -> ObisCode:
    try:
        return parse(text)
    except ObisError as error:
        raise ParamError(
            f"{error}; give the channel as 12 hex digits (0100011D00FF), full (1-0:1.29.0*255) or reduced (1.29.0)"
        ) from None


_ZONES_BY_LOWER: dict[str, str] | None = None


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone (``Europe/Zurich``, ``UTC``); POSIX strings like ``UTC+3`` are refused on purpose
    (PostgreSQL reads their sign inverted)."""
    global _ZONES_BY_LOWER
    cleaned = name.strip()
    if cleaned and re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", cleaned):
        try:
            return ZoneInfo(cleaned)
        except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
            pass
    if _ZONES_BY_LOWER is None:
        _ZONES_BY_LOWER = {zone.lower(): zone for zone in available_timezones()}
    hint = _ZONES_BY_LOWER.get(cleaned.lower())
    suggestion = f" (did you mean {hint}?)" if hint else ""
    raise ParamError(f"unknown time zone {_shown(name)}{suggestion}: use an IANA name such as UTC or Europe/Zurich")


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """ISO 8601 date or date-time, returned in UTC.

    A date means its midnight and a date-time without offset means that wall-clock time, both in ``zone``.
    A wall-clock time that does not exist or occurs twice (DST change) takes the offset in force before
    the change. A '+' in a URL must be sent as %2B; a space where the offset's '+' belongs is accepted.
    """
    cleaned = text.strip()
    value = _fromisoformat(cleaned)
    if value is None:
        fixed = re.fullmatch(r"(.*\d)\s(\d{2}(?::?\d{2})?)", cleaned)
        if fixed is not None:
            value = _fromisoformat(f"{fixed[1]}+{fixed[2]}")
    if value is None:
        raise ParamError(
            f"{_shown(text)} is not an ISO 8601 date or date-time: use 2023-02-01, 2023-02-01T06:00 "
            "(wall-clock time in tz) or 2023-02-01T05:00:00Z / 2023-02-01T06:00:00%2B01:00"
        )
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _fromisoformat(text: str) -> datetime | None:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time())
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_limit(value: int, maximum: int = MAX_LIMIT) -> int:
    if not 1 <= value <= maximum:
        raise ParamError(f"limit must be between 1 and {maximum} (got {value}); page with cursor for more")
    return value


def parse_lags(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ParamError("lags is empty: give comma-separated interval counts, e.g. 96,672 (1 day, 1 week of 15 min)")
    lags: list[int] = []
    for part in parts:
        if not re.fullmatch(r"\d+", part) or not 1 <= int(part) <= MAX_LAG:
            raise ParamError(f"lag {_shown(part)} is not a whole number of intervals between 1 and {MAX_LAG}")
        lags.append(int(part))
    if len(lags) > MAX_LAGS:
        raise ParamError(f"at most {MAX_LAGS} lags per request (got {len(lags)})")
    return lags


AGGS: Final = ("sum", "avg", "min", "max", "count")


def parse_agg(text: str) -> str:
    if text not in AGGS:
        raise ParamError(f"unknown agg {_shown(text)}: use one of {', '.join(AGGS)}")
    return text


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "...")


# --- intervals and buckets ----------------------------------------------------------------------------------


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
        raise ParamError(f"unknown interval {_shown(text)}: use one of {', '.join(INTERVALS)}")
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


# --- default ranges -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Channel:
    obis: str
    first: datetime
    last: datetime


def resolve_range(
    start: datetime | None, end: datetime | None, channel: Channel, tail: timedelta = ONE_MICROSECOND
) -> tuple[datetime, datetime]:
    """Omitted start/end default to the channel's data: from its first reading to just after its last
    (``tail`` after the last reading's start: 1 µs, or one interval where whole intervals matter)."""
    return (channel.first if start is None else start, channel.last + tail if end is None else end)


def choose_channel(muid: uuid.UUID, requested: ObisCode | None, channels: Sequence[Channel]) -> Channel:
    """The channel a request means; ``obis`` may be left out only when the meter has exactly one."""
    if not channels:
        raise NotFound(f"unknown meter {muid}: no readings stored for it (GET /v1/meters lists the meters)")
    if requested is None:
        if len(channels) == 1:
            return channels[0]
        raise InvalidRequest.one(
            ("query", "obis"),
            f"obis is required: meter {muid} has {len(channels)} channels: {describe_channels(channels)}; "
            f"pass one, e.g. obis={_hex(channels[0].obis)}",
        )
    for channel in channels:
        if channel.obis == requested.normalized:
            return channel
    raise NotFound(
        f"meter {muid} has no channel {requested.normalized} ({requested.hex}); "
        f"its channels: {describe_channels(channels)}"
    )


def describe_channels(channels: Iterable[Channel]) -> str:
    return ", ".join(f"{c.obis} ({_hex(c.obis)})" for c in channels)


def _hex(obis: str) -> str:
    try:
        return parse(obis).hex
    except ObisError:
        return obis


def measurement_of(obis: str) -> str:
    """The source API's ``measurement`` for a channel: energy or power, else the quantity itself."""
    try:
        quantity = decode(obis).quantity
    except ObisError:
        return "unknown"
    if quantity.endswith("_energy"):
        return "energy"
    if quantity.endswith("_power"):
        return "power"
    return quantity


# --- cursors ------------------------------------------------------------------------------------------------


def encode_cursor(ts: datetime) -> str:
    """Opaque page cursor: URL-safe base64 of the last returned interval start (UTC, microseconds)."""
    text = ts.astimezone(UTC).isoformat(timespec="microseconds")
    return base64.urlsafe_b64encode(text.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> datetime:
    message = "cursor is not one this API returned: pass next_cursor of the previous page unchanged"
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = datetime.fromisoformat(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ParamError(message) from None
    if value.tzinfo is None:
        raise ParamError(message)
    return value.astimezone(UTC)


# --- statistics ---------------------------------------------------------------------------------------------


def expected_intervals(start: datetime, end: datetime, step: timedelta) -> int:
    """Number of whole or partial intervals of length ``step`` in [start, end)."""
    if end <= start:
        return 0
    return math.ceil((end - start) / step)


def coverage(count: int, expected: int) -> float | None:
    return None if expected <= 0 else count / expected


@dataclass(frozen=True, slots=True)
class Profile:
    by_hour: list[float | None]
    by_weekday: list[float | None]
    weekday_hour: list[list[float | None]]


def assemble_profile(rows: Iterable[tuple[int, int | None, int | None, float]]) -> Profile:
    """Rows of (grouping, weekday 0=Monday, hour, mean) from ``GROUP BY GROUPING SETS`` into the three views;
    grouping 0 = a (weekday, hour) cell, 1 = a weekday, 2 = an hour of day."""
    by_hour: list[float | None] = [None] * 24
    by_weekday: list[float | None] = [None] * 7
    matrix: list[list[float | None]] = [[None] * 24 for _ in range(7)]
    for grouping, weekday, hour, mean in rows:
        if grouping == 0 and weekday is not None and hour is not None:
            matrix[weekday][hour] = mean
        elif grouping == 1 and weekday is not None:
            by_weekday[weekday] = mean
        elif grouping == 2 and hour is not None:
            by_hour[hour] = mean
    return Profile(by_hour, by_weekday, matrix)


def regular_series(timestamps: Sequence[datetime], values: Sequence[float], step: timedelta) -> npt.NDArray[np.float64]:
    """Place readings on a regular grid of ``step`` from the first one; missing intervals are NaN.
    A reading off the grid lands in the interval it starts in."""
    if not timestamps:
        return np.empty(0, dtype=np.float64)
    origin = timestamps[0]
    slots = [(ts - origin) // step for ts in timestamps]
    grid = np.full(slots[-1] + 1, np.nan, dtype=np.float64)
    grid[slots] = values
    return grid


def autocorrelation(series: npt.NDArray[np.float64], lags: Iterable[int]) -> list[float | None]:
    """Sample autocorrelation r(k) of a regular series with gaps (NaN), per lag.

    r(k) = sum over t with x[t] and x[t+k] both present of (x[t]-m)(x[t+k]-m) / sum over present t of (x[t]-m)^2,
    m the mean of the present values: the textbook (biased) estimator, with missing values left out of
    every sum (as statsmodels' acf(missing="conservative")). None where no pair exists or the series is
    constant.
    """
    present = ~np.isnan(series)
    if not present.any():
        return [None for _ in lags]
    centred = np.where(present, series - series[present].mean(), 0.0)
    denominator = float(np.dot(centred, centred))
    result: list[float | None] = []
    for lag in lags:
        if lag >= len(series) or denominator == 0.0:
            result.append(None)
            continue
        pairs = present[:-lag] & present[lag:]
        if not pairs.any():
            result.append(None)
            continue
        result.append(float(np.dot(centred[:-lag], centred[lag:])) / denominator)
    return result


# --- the source company's record format ---------------------------------------------------------------------


def source_timestamp(ts: datetime) -> str:
    """``2023-02-28T23:45:00.000Z``: UTC with milliseconds, as the source API writes it."""
    utc = ts.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def source_number(value: float) -> float | int:
    """Integral values as JSON integers, the rest as the shortest round-trip float: the source files write
    ``0`` (never ``0.0``), so this reproduces them byte for byte."""
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
