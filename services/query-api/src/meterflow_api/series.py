"""The series use case: ``compute_series`` owns the sequence plan -> choose rollup or raw -> query -> shape.

The handler in routes/series.py parses the request into a ``SeriesQuery`` and renders the ``SeriesResult``
(one channel) or the list of them (``compute_multi_series``: several channels of a meter, one connection);
everything in between happens here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple, cast
from zoneinfo import ZoneInfo

from meterflow_obis import ObisCode

from meterflow_api import metrics
from meterflow_api.db import Database, SeriesRow, Session
from meterflow_api.domain import (
    Channel,
    Interval,
    SeriesPlan,
    choose_channel,
    hourly_rollup_plan,
    plan_series,
    resolve_range,
    shown,
)
from meterflow_api.domain.holidays import DEFAULT_REGION, Region, dates_in_range, parse_region
from meterflow_api.domain.numbers import readable
from meterflow_api.errors import NotFound

# Position of each aggregate in a db.SeriesRow.
_AGG_INDEX: Final = {"sum": 2, "avg": 3, "min": 4, "max": 5, "count": 6}
_DEFAULT_REGION: Final = parse_region(DEFAULT_REGION)


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """A series request, parsed: omitted start/end are None (the channel's data then)."""

    muid: uuid.UUID
    obis: ObisCode | None
    start: datetime | None
    end: datetime | None
    interval: Interval
    agg: str
    zone: ZoneInfo
    day_type: str = "all"
    region: Region = _DEFAULT_REGION


class SeriesPoint(NamedTuple):
    """One bucket as shown: bounds in the query's zone, the aggregate (None when empty), the readings in it."""

    start: datetime
    end: datetime
    value: float | int | None  # int for agg=count
    readings: int


@dataclass(frozen=True, slots=True)
class SeriesResult:
    channel: Channel
    points: list[SeriesPoint]
    from_rollup: bool  # summed from readings_hourly rather than the raw rows


async def compute_series(
    database: Database, query: SeriesQuery, tenant: str | None, *, from_aggregates: bool
) -> SeriesResult:
    """Every bucket of the query's range, aggregated; from the hourly rollup when ``from_aggregates`` allows,
    the database keeps one and the buckets' bounds are whole UTC hours, else from the raw rows.

    Raises NotFound (meter or channel) and InvalidRequest (range) before any aggregate query runs; the meter is
    found only if it is ``tenant``'s (None: any tenant's)."""
    async with database.session() as session:
        channel = choose_channel(query.muid, query.obis, await session.channels(query.muid, tenant))
        return await channel_series(database, session, query, channel, from_aggregates)


async def compute_multi_series(
    database: Database, query: SeriesQuery, codes: Sequence[ObisCode], tenant: str | None, *, from_aggregates: bool
) -> list[SeriesResult]:
    """The series of several channels of the query's meter (``codes``; empty: every channel), by OBIS code,
    each over its own default range where start/end are omitted. Raises NotFound for an unknown meter or
    channel before any aggregate query runs."""
    async with database.session() as session:
        channels = await session.channels(query.muid, tenant)
        if codes:
            chosen = {choose_channel(query.muid, code, channels).obis: None for code in codes}
            selected = [c for c in channels if c.obis in chosen]
        else:
            selected = list(channels)
        if not selected:
            raise NotFound(f"unknown meter {query.muid}: no readings stored for it (GET /v1/meters lists the meters)")
        plans = [(channel, _plan(query, channel)) for channel in selected]  # every range checked before querying
        return [
            await channel_series(database, session, query, channel, from_aggregates, plan) for channel, plan in plans
        ]


def _plan(query: SeriesQuery, channel: Channel) -> SeriesPlan:
    lo, hi = resolve_range(query.start, query.end, channel)
    return plan_series(lo, hi, query.interval, query.zone)


async def channel_series(
    database: Database,
    session: Session,
    query: SeriesQuery,
    channel: Channel,
    from_aggregates: bool,
    plan: SeriesPlan | None = None,
) -> SeriesResult:
    plan = plan if plan is not None else _plan(query, channel)
    days = dates_in_range(query.day_type, query.region, plan.start, plan.end, query.zone)
    rollup = (
        hourly_rollup_plan(plan, open_end=query.end is None)
        if from_aggregates and await database.uses_hourly_rollup(session)
        else None
    )
    if rollup is None:
        rows = await session.series(query.muid, channel.obis, plan, days)
    else:
        rows = await session.series_from_hourly(query.muid, channel.obis, *rollup, days)
    (metrics.SERIES_FROM_RAW if rollup is None else metrics.SERIES_FROM_ROLLUP).inc()
    return SeriesResult(channel, _points(rows, query.agg, query.zone), from_rollup=rollup is not None)


def _points(rows: list[SeriesRow], agg: str, zone: ZoneInfo) -> list[SeriesPoint]:
    value_at = _AGG_INDEX[agg]
    return [
        SeriesPoint(shown(r.start, zone), shown(r.end, zone), _value(r, value_at), r.n)
        if r.n
        else SeriesPoint(shown(r.start, zone), shown(r.end, zone), None, 0)
        for r in rows
    ]


def _value(row: SeriesRow, value_at: int) -> float | int | None:
    value = cast(float | int | None, row[value_at])
    return value if isinstance(value, int) else readable(value)
