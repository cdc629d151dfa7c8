"""The statistics maths: coverage, the profile views and patterns, and the autocorrelation of a series with gaps."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from meterflow_api.domain.numbers import readable

BASE_LOAD_PERCENTILE: Final = 0.10


def expected_intervals(start: datetime, end: datetime, step: timedelta) -> int:
    """Number of whole or partial intervals of length ``step`` in [start, end)."""
    if end <= start:
        return 0
    return math.ceil((end - start) / step)


def expected_on_days(start: datetime, end: datetime, step: timedelta, days: Iterable[date], zone: ZoneInfo) -> int:
    """Intervals of ``step`` in [start, end) that fall on the given local dates of ``zone`` (a day_type)."""
    total = 0
    for day in days:
        lo = datetime.combine(day, time(), zone).astimezone(UTC)
        hi = datetime.combine(day + timedelta(days=1), time(), zone).astimezone(UTC)
        total += expected_intervals(max(lo, start), min(hi, end), step)
    return total


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
            matrix[weekday][hour] = readable(mean)
        elif grouping == 1 and weekday is not None:
            by_weekday[weekday] = readable(mean)
        elif grouping == 2 and hour is not None:
            by_hour[hour] = readable(mean)
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


PATTERN_FIELDS: Final = ("n", "mean", "std", "min", "max", "p10", "p50", "p90")


def _pattern(n: int, mean: float, std: float | None, lo: float, hi: float, p: list[float]) -> dict[str, Any]:
    return {
        "n": n,
        "mean": readable(mean),
        "std": readable(std),
        "min": readable(lo),
        "max": readable(hi),
        "p10": readable(p[0]),
        "p50": readable(p[1]),
        "p90": readable(p[2]),
    }


def assemble_patterns(rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """Rows of (grouping, weekday, hour, n, mean, std, min, max, [p10, p50, p90]) of the energy per clock hour
    into by_hour (24) and weekday_hour (7 x 24); None where no hour falls. grouping 0 = a cell, 1 = an hour."""
    by_hour: list[dict[str, Any] | None] = [None] * 24
    matrix: list[list[dict[str, Any] | None]] = [[None] * 24 for _ in range(7)]
    for grouping, weekday, hour, n, mean, std, lo, hi, p in rows:
        if grouping == 0:
            matrix[weekday][hour] = _pattern(n, mean, std, lo, hi, p)
        else:
            by_hour[hour] = _pattern(n, mean, std, lo, hi, p)
    return {"by_hour": by_hour, "weekday_hour": matrix}


def whole_hour_offsets(start: datetime, end: datetime, zone: ZoneInfo) -> bool:
    """Whether [start, end) starts and ends on whole UTC hours in a zone whose offset there is whole hours:
    then its clock hours are the rollup's UTC hours."""
    for instant in (start, end):
        offset = instant.astimezone(zone).utcoffset() or timedelta(0)
        if offset % timedelta(hours=1) or instant.minute or instant.second or instant.microsecond:
            return False
    return True
