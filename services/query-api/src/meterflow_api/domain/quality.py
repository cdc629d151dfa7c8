"""Data quality of a channel from what the channels table keeps (interval, first and last reading, exact
count): how many intervals its life should hold, how many are missing, the coverage. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Coverage:
    expected: int  # intervals from the first to the last reading, both included
    missing: int  # of those, intervals without a reading (the gaps)
    ratio: float  # readings / expected, 1.0 when nothing is missing


def channel_coverage(first: datetime, last: datetime, interval_s: int | None, count: int) -> Coverage:
    """A channel whose interval is not known yet (a single reading) is complete by definition."""
    if interval_s is None or interval_s <= 0:
        return Coverage(count, 0, 1.0)
    expected = max(count, int((last - first).total_seconds() // interval_s) + 1)
    return Coverage(expected, expected - count, count / expected if expected else 1.0)


def meter_coverage(channels: list[Coverage]) -> Coverage:
    expected = sum(c.expected for c in channels)
    missing = sum(c.missing for c in channels)
    return Coverage(expected, missing, (expected - missing) / expected if expected else 1.0)
