"""The fleet use cases: sums over every meter a tenant owns, per bucket and channel kind, and the meters
that consumed most. The meters come from insights_db.scoped_channels (the tenancy rule)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from meterflow_api import insights_db
from meterflow_api.db import Database
from meterflow_api.domain import (
    MAX_ACF_LABEL,
    MAX_ACF_RANGE,
    Interval,
    bucket_edges,
    hourly_rollup_plan,
    plan_series,
    shown,
)
from meterflow_api.domain.calendar import check_range
from meterflow_api.domain.numbers import readable

MAX_TOP = 100
Kind = tuple[str, str | None, str | None]  # quantity, direction, unit


@dataclass(frozen=True, slots=True)
class FleetQuery:
    start: datetime
    end: datetime
    zone: ZoneInfo
    tenant: str | None = None  # None: every tenant (admin scope)


def _whole_hours(start: datetime, end: datetime) -> bool:
    return all(t.minute == t.second == t.microsecond == 0 for t in (start, end))


async def fleet_series(
    database: Database, query: FleetQuery, interval: Interval, *, from_aggregates: bool
) -> dict[str, Any]:
    plan = plan_series(query.start, query.end, interval, query.zone)
    async with database.session() as session:
        scoped = await insights_db.scoped_channels(session, query.tenant)
        kinds: dict[Kind, int] = {}
        meters_of: dict[int, set[Any]] = defaultdict(set)
        channels = []
        for item in scoped:
            c = item.channel
            index = kinds.setdefault((c.quantity, c.direction, c.unit), len(kinds))
            meters_of[index].add(item.muid)
            channels.append((item.muid, c.obis, index))
        rollup = (
            hourly_rollup_plan(plan, open_end=False)
            if from_aggregates and await database.uses_hourly_rollup(session)
            else None
        )
        edges = bucket_edges(plan) if rollup is None else rollup[1]
        rows = await insights_db.fleet_series(
            session, channels, edges, plan.start, plan.end, from_rollup=rollup is not None
        )
    found = {(row["i"], row["kind"]): row for row in rows}
    zone = query.zone
    return {
        "interval": interval.name,
        "tz": zone.key,
        "start": shown(query.start, zone),
        "end": shown(query.end, zone),
        "kinds": [
            {
                "quantity": quantity,
                "direction": direction,
                "unit": unit,
                "meters": len(meters_of[index]),
                "points": [_point(found.get((i, index)), edges[i - 1], edges[i], zone) for i in range(1, len(edges))],
            }
            for (quantity, direction, unit), index in kinds.items()
        ],
    }


def _point(row: Any, lo: datetime, hi: datetime, zone: ZoneInfo) -> dict[str, Any]:
    if row is None:
        return {"start": shown(lo, zone), "end": shown(hi, zone), "value": None, "count": 0, "meters": 0}
    return {
        "start": shown(lo, zone),
        "end": shown(hi, zone),
        "value": readable(row["total"]),
        "count": row["n"],
        "meters": row["meters"],
    }


async def fleet_top(database: Database, query: FleetQuery, limit: int, *, from_aggregates: bool) -> dict[str, Any]:
    """The ``limit`` meters with the most active energy import in the range (a meter's import channels summed)."""
    check_range(query.start, query.end, query.zone, MAX_ACF_RANGE, MAX_ACF_LABEL, "fleet/top")
    async with database.session() as session:
        scoped = await insights_db.scoped_channels(session, query.tenant)
        channels = [
            (s.muid, s.channel.obis)
            for s in scoped
            if s.channel.quantity == "active_energy" and s.channel.direction == "import"
        ]
        from_rollup = (
            from_aggregates and _whole_hours(query.start, query.end) and await database.uses_hourly_rollup(session)
        )
        rows = await insights_db.fleet_top(session, channels, query.start, query.end, limit, from_rollup=from_rollup)
    obis_of = dict(channels)
    zone = query.zone
    return {
        "start": shown(query.start, zone),
        "end": shown(query.end, zone),
        "tz": zone.key,
        "meters": [
            {"muid": str(row["muid"]), "obis": obis_of[row["muid"]], "kwh": readable(row["kwh"]), "count": row["n"]}
            for row in rows
        ],
    }
