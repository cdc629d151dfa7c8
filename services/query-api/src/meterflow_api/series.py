"""The series use case: ``compute_series`` owns the sequence plan -> choose rollup or raw -> query -> shape.

The handler in routes/series.py parses the request into a ``SeriesQuery`` and renders the ``SeriesResult``;
everything in between happens here, on one connection.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final, NamedTuple, cast
from zoneinfo import ZoneInfo

from meterflow_obis import ObisCode

from meterflow_api import metrics
from meterflow_api.db import Database, SeriesRow
from meterflow_api.domain import (
    Channel,
    Interval,
    choose_channel,
    hourly_rollup_plan,
    plan_series,
    resolve_range,
    shown,
)

# Position of each aggregate in a db.SeriesRow.
_AGG_INDEX: Final = {"sum": 2, "avg": 3, "min": 4, "max": 5, "count": 6}


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
    the database keeps one and the buckets' bounds are whole UTC hours, else from the raw rows. Only a meter
    of ``tenant`` (None: any) is found.

    Raises NotFound (meter or channel) and InvalidRequest (range) before any aggregate query runs."""
    async with database.session() as session:
        channel = choose_channel(query.muid, query.obis, await session.channels(query.muid, tenant))
        lo, hi = resolve_range(query.start, query.end, channel)
        plan = plan_series(lo, hi, query.interval, query.zone)
        rollup = (
            hourly_rollup_plan(plan, open_end=query.end is None)
            if from_aggregates and await database.uses_hourly_rollup(session)
            else None
        )
        if rollup is None:
            rows = await session.series(query.muid, channel.obis, plan)
        else:
            rows = await session.series_from_hourly(query.muid, channel.obis, *rollup)
    (metrics.SERIES_FROM_RAW if rollup is None else metrics.SERIES_FROM_ROLLUP).inc()
    return SeriesResult(channel, _points(rows, query.agg, query.zone), from_rollup=rollup is not None)


def _points(rows: list[SeriesRow], agg: str, zone: ZoneInfo) -> list[SeriesPoint]:
    value_at = _AGG_INDEX[agg]
    return [
        SeriesPoint(
            shown(r.start, zone), shown(r.end, zone), cast(float | int | None, r[value_at]) if r.n else None, r.n
        )
        for r in rows
    ]
