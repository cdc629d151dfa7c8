"""The insights and overview use cases: a meter's channels (through the tenancy rule of insights_db), its
range, then the queries and the pure rules of domain.insights; one connection per request.

The overview's body is designed so that the cost of a tariff (issue 14's cost part) slots in as ``cost``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from meterflow_api import domain, insights_db
from meterflow_api.db import Database, Session
from meterflow_api.domain import DEFAULT_STEP, INTERVALS, Channel, shown
from meterflow_api.domain import insights as rules
from meterflow_api.domain.statistics import whole_hour_offsets
from meterflow_api.series import SeriesQuery, channel_series
from meterflow_api.stats import stats_figures


@dataclass(frozen=True, slots=True)
class MeterRangeQuery:
    """A per-meter request over a range of every channel: start/end None default to the meter's data."""

    muid: uuid.UUID
    start: datetime | None
    end: datetime | None
    zone: ZoneInfo
    tenant: str | None = None  # None: every tenant (admin scope)


def _pick(channels: list[Channel], direction: str) -> Channel | None:
    found = [c for c in channels if c.quantity == "active_energy" and c.direction == direction]
    return found[0] if found else None


def meter_range(query: MeterRangeQuery, channels: list[Channel], what: str) -> tuple[datetime, datetime]:
    """The request's range, or from the meter's first reading to the end of its last interval; checked."""
    lo = query.start if query.start is not None else min(c.first for c in channels)
    hi = query.end if query.end is not None else max(c.last + (c.interval or DEFAULT_STEP) for c in channels)
    domain.check_range(lo, hi, query.zone, domain.MAX_ACF_RANGE, domain.MAX_ACF_LABEL, what)
    return lo, hi


async def _channels(session: Session, query: MeterRangeQuery) -> list[Channel]:
    return [s.channel for s in await insights_db.scoped_channels(session, query.tenant, query.muid)]


async def _rollup_allowed(
    database: Database, session: Session, zone: ZoneInfo, lo: datetime, hi: datetime, from_aggregates: bool
) -> bool:
    return from_aggregates and whole_hour_offsets(lo, hi, zone) and await database.uses_hourly_rollup(session)


async def insights_of(
    session: Session,
    muid: uuid.UUID,
    channels: list[Channel],
    zone: ZoneInfo,
    lo: datetime,
    hi: datetime,
    *,
    from_rollup: bool,
    known_hours: dict[str, list[rules.HourEnergy]] | None = None,
) -> dict[str, Any]:
    """Every insight the meter's channels support in [lo, hi); the others named in ``unavailable``.
    ``known_hours``: energy per clock hour already fetched, by OBIS code."""
    consumption, export = _pick(channels, "import"), _pick(channels, "export")
    found: dict[str, Any] = {}
    unavailable: dict[str, str] = {}
    consumption_names = ("base_load", "standby", "peak_hours", "weekday_weekend", "unusual_days")
    if consumption is None:
        unavailable.update(dict.fromkeys(consumption_names, "the meter has no active energy import channel"))
    else:
        hours = (known_hours or {}).get(consumption.obis)
        if hours is None:
            hours = await insights_db.hourly_energy(
                session, muid, consumption.obis, zone.key, lo, hi, from_rollup=from_rollup
            )
        base = rules.base_load(hours)
        found["base_load"] = base
        found["standby"] = None if base is None else rules.standby(hours, base["kw"])
        found["peak_hours"] = rules.peak_hours(hours)
        found["weekday_weekend"] = rules.weekday_weekend(hours)
        found["unusual_days"] = rules.unusual_days(hours)
        for name in consumption_names:
            if found[name] is None:
                unavailable[name] = _why_not(name)
    if export is None:
        unavailable["pv_window"] = (
            "the meter has no active energy export channel (a consumption meter is not a PV meter)"
        )
    else:
        step = export.interval or DEFAULT_STEP
        found["pv_window"] = rules.pv_window(
            await insights_db.export_days(session, muid, export.obis, zone.key, lo, hi, step)
        )
        if found["pv_window"] is None:
            unavailable["pv_window"] = "no non-zero export in the range"
    return {
        "consumption_obis": None if consumption is None else consumption.obis,
        "export_obis": None if export is None else export.obis,
        "insights": {**{k: v for k, v in found.items() if v is not None}, "unavailable": unavailable},
    }


def _why_not(name: str) -> str:
    return {
        "base_load": "no readings between 00:00 and 06:00 in the range",
        "standby": "no consumption in the range",
        "peak_hours": "no readings in the range",
        "weekday_weekend": "the range lacks either weekdays or weekend days with readings",
        "unusual_days": "fewer than 3 days, or every day exactly its weekday's usual shape",
    }[name]


async def compute_insights(database: Database, query: MeterRangeQuery, *, from_aggregates: bool) -> dict[str, Any]:
    async with database.session() as session:
        channels = await _channels(session, query)
        lo, hi = meter_range(query, channels, "insights")
        from_rollup = await _rollup_allowed(database, session, query.zone, lo, hi, from_aggregates)
        body = await insights_of(session, query.muid, channels, query.zone, lo, hi, from_rollup=from_rollup)
    return {
        "muid": query.muid,
        "tz": query.zone.key,
        "start": shown(lo, query.zone),
        "end": shown(hi, query.zone),
        **body,
    }


async def compute_overview(database: Database, query: MeterRangeQuery, *, from_aggregates: bool) -> dict[str, Any]:
    """Stats, daily series and heatmap of every channel, and the insights, over one range. The energy per
    clock hour of each channel is fetched once and serves its heatmap and the insights."""
    async with database.session() as session:
        channels = await _channels(session, query)
        lo, hi = meter_range(query, channels, "overview")
        from_rollup = await _rollup_allowed(database, session, query.zone, lo, hi, from_aggregates)
        daily = SeriesQuery(query.muid, None, lo, hi, INTERVALS["1d"], "sum", query.zone)
        shown_channels = []
        hours_by_obis: dict[str, list[rules.HourEnergy]] = {}
        for channel in channels:
            figures = await stats_figures(session, query.muid, channel, query.zone, lo, hi, hi, None)
            series = await channel_series(database, session, daily, channel, from_aggregates)
            hours = await insights_db.hourly_energy(
                session, query.muid, channel.obis, query.zone.key, lo, hi, from_rollup=from_rollup
            )
            hours_by_obis[channel.obis] = hours
            shown_channels.append(
                {
                    "obis": channel.obis,
                    "quantity": channel.quantity,
                    "direction": channel.direction,
                    "unit": channel.unit,
                    "stats": figures,
                    "daily": [{"start": p[0], "end": p[1], "value": p[2], "count": p[3]} for p in series.points],
                    "heatmap": rules.heatmap(hours),
                }
            )
        found = await insights_of(
            session, query.muid, channels, query.zone, lo, hi, from_rollup=from_rollup, known_hours=hours_by_obis
        )
    return {
        "muid": query.muid,
        "tz": query.zone.key,
        "start": shown(lo, query.zone),
        "end": shown(hi, query.zone),
        "channels": shown_channels,
        "insights": found["insights"],
    }
