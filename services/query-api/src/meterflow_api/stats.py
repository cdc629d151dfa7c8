"""The stats use case: the figures of one channel over a range (and of the period it is compared with).

Shared by GET /v1/meters/{muid}/stats and the overview; every sum and mean passes through ``readable``.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from meterflow_api import domain
from meterflow_api.db import Session
from meterflow_api.domain import DEFAULT_STEP, Channel, shown
from meterflow_api.domain.compare import comparison_range, differences
from meterflow_api.domain.holidays import Region, dates_in_range
from meterflow_api.domain.numbers import readable
from meterflow_api.domain.statistics import expected_on_days

COMPARED: Final = ("total", "mean", "base_load", "count", "coverage")


async def stats_figures(
    session: Session,
    muid: uuid.UUID,
    channel: Channel,
    zone: ZoneInfo,
    lo: datetime,
    filter_hi: datetime,
    shown_hi: datetime | None,
    days: list[date] | None,
) -> dict[str, Any]:
    """Total, mean, extremes, base load, peak hour and coverage of [lo, filter_hi) on the local ``days`` (None:
    every day; expected then counts the intervals of those days only); ``shown_hi`` is the end reported
    (None: one interval after the last reading, when end was omitted)."""
    result = await session.stats(muid, channel.obis, zone.key, lo, filter_hi, domain.BASE_LOAD_PERCENTILE, days)
    step = result.step or channel.interval or DEFAULT_STEP
    hi = shown_hi if shown_hi is not None else channel.last + step
    expected = domain.expected_intervals(lo, hi, step) if days is None else expected_on_days(lo, hi, step, days, zone)
    return {
        "start": shown(lo, zone),
        "end": shown(hi, zone),
        "interval_s": int(step.total_seconds()),
        "total": readable(result.total),
        "mean": readable(result.mean),
        "min": {"value": result.min_value, "at": None if result.min_at is None else shown(result.min_at, zone)},
        "max": {"value": result.max_value, "at": None if result.max_at is None else shown(result.max_at, zone)},
        "base_load": readable(result.base_load),
        "peak_hour": result.peak_hour,
        "count": result.count,
        "expected": expected,
        "coverage": readable(domain.coverage(result.count, expected)),
    }


async def comparison(
    session: Session,
    muid: uuid.UUID,
    channel: Channel,
    zone: ZoneInfo,
    mode: str,
    current: dict[str, Any],
    lo: datetime,
    hi: datetime,
    day_type: str,
    region: Region,
) -> dict[str, Any]:
    """The same figures for the period ``mode`` compares [lo, hi) with, and the differences."""
    before_lo, before_hi = comparison_range(mode, lo, hi, zone)
    days = dates_in_range(day_type, region, before_lo, before_hi, zone)
    previous = await stats_figures(session, muid, channel, zone, before_lo, before_hi, before_hi, days)
    return {"mode": mode, **previous, "difference": differences(current, previous, COMPARED)}
