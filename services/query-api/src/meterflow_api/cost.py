"""The cost use case: ``compute_cost`` prices one channel of a meter over a range by a tariff.

Sequence: the meter (through ``meter_channels``, the one place a tenant's scope applies), its channel and
range, the rows (the hourly rollup when every band boundary of the tariff is a whole local hour, the zone's
offset is whole hours over the range and the range is on whole UTC hours; the raw readings otherwise;
grouped in SQL by local date and band segment unless points or a filter need them one by one), the pricing
(domain.pricing: Decimal, in the tariff's zone), the optional shift figure and points.

An export channel is priced by the tariff's feed-in price: its one band ``feed_in`` has a negative price, so
its cost is what the grid pays (negative). The fixed monthly fee is charged on import channels only.
The overview (issue 14) calls ``compute_cost`` as the cost route does.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from meterflow_obis import ObisCode

from meterflow_api import sql
from meterflow_api.config import TariffSettings
from meterflow_api.db import Database, Session
from meterflow_api.domain import (
    DEFAULT_STEP,
    MAX_ACF_LABEL,
    MAX_ACF_RANGE,
    Channel,
    Interval,
    bucket_edges,
    check_range,
    choose_channel,
    plan_series,
    resolve_range,
    shown,
)
from meterflow_api.domain.pricing import (
    CostPoint,
    CostSummary,
    Shift,
    cost_points,
    fixed_fee,
    kwh_shown,
    money_shown,
    price_readings,
    shift_figure,
    summarize,
)
from meterflow_api.domain.tariffs import Tariff
from meterflow_api.errors import InvalidRequest
from meterflow_api.tariff_store import all_tariffs

# Cost reads rows without bucketing them in SQL: at most a year per request (35 040 quarter hours).
MAX_COST_RANGE: Final = MAX_ACF_RANGE
MAX_COST_LABEL: Final = MAX_ACF_LABEL
FEED_IN_BAND: Final = "feed_in"
_ONE_HOUR: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class CostQuery:
    """A cost request, parsed. ``zone`` None: the tariff's zone (for the shown times and the buckets)."""

    muid: uuid.UUID
    obis: ObisCode | None
    start: datetime | None
    end: datetime | None
    tariff: str
    zone: ZoneInfo | None = None
    interval: Interval | None = None
    shift: Decimal | None = None  # share 0..1 of above-low-band energy moved into the low band
    priced_as: str | None = None  # "import" or "export"; None: by the channel's direction
    # Rows whose interval start (UTC) this refuses are left out before pricing: the hook for the
    # day_type filter (weekday/weekend/holiday in the request's zone). Needs the raw readings when it cuts
    # hours in two (it never does for whole local days in a whole-hour zone).
    include: Callable[[datetime], bool] | None = None


@dataclass(frozen=True, slots=True)
class CostResult:
    muid: uuid.UUID
    channel: Channel
    tariff: Tariff
    zone: ZoneInfo
    start: datetime
    end: datetime
    export: bool  # priced by the feed-in price
    summary: CostSummary
    fee: Decimal
    shift: Shift | None
    points: list[CostPoint] | None
    from_rollup: bool

    @property
    def total_cost(self) -> Decimal:
        return self.summary.energy_cost + self.fee

    def body(self) -> dict[str, Any]:
        """The JSON body of GET /v1/meters/{muid}/cost."""
        body: dict[str, Any] = {
            "muid": self.muid,
            "obis": self.channel.obis,
            "tariff": self.tariff.name,
            "kind": "export" if self.export else "import",
            "currency": self.tariff.currency,
            "tz": self.zone.key,
            "start": shown(self.start, self.zone),
            "end": shown(self.end, self.zone),
            "total_kwh": kwh_shown(self.summary.total_kwh),
            "total_cost": money_shown(self.total_cost),
            "energy_cost": money_shown(self.summary.energy_cost),
            "fixed_fee": money_shown(self.fee),
            "bands": [band.shown() for band in self.summary.bands],
        }
        if self.shift is not None:
            body["shift"] = self.shift.shown()
        if self.points is not None:
            body["points"] = [point_shown(p, self.zone) for p in self.points]
        return body


def point_shown(point: CostPoint, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "start": shown(point.start, zone),
        "end": shown(point.end, zone),
        "kwh": kwh_shown(point.kwh) if point.readings else None,
        "cost": money_shown(point.cost) if point.readings else None,
        "count": point.readings,
    }


async def meter_channels(session: Session, muid: uuid.UUID, tenant: str | None) -> list[Channel]:
    """A meter's channels as the tenant may see them: None (admin) sees every meter, a tenant only its own
    (another tenant's meter is unknown: NotFound, as if it did not exist)."""
    return await session.channels(muid, tenant)


async def tariff_for(database: Database, session: Session, settings: TariffSettings, name: str) -> Tariff:
    """The tariff a request names; an unknown one is a 422 on ``tariff`` that lists the known ones."""
    known = await all_tariffs(database, session, settings)
    tariff = known.get(name)
    if tariff is None:
        raise InvalidRequest.one(
            ("query", "tariff"), f"unknown tariff {name!r}: use one of {', '.join(sorted(known))} (GET /v1/tariffs)"
        )
    return tariff


async def compute_cost(
    database: Database,
    query: CostQuery,
    settings: TariffSettings,
    *,
    tenant: str | None = None,
    from_aggregates: bool = True,
) -> CostResult:
    """The cost of the query's channel and range under its tariff (see the module's docstring).

    Raises NotFound (meter, channel) and InvalidRequest (tariff, range) before pricing anything."""
    async with database.session() as session:
        tariff = await tariff_for(database, session, settings, query.tariff)
        channel = choose_channel(query.muid, query.obis, await meter_channels(session, query.muid, tenant))
        zone = query.zone or tariff.zone
        lo, hi = resolve_range(query.start, query.end, channel, channel.interval or DEFAULT_STEP)
        check_range(lo, hi, zone, MAX_COST_RANGE, MAX_COST_LABEL, "cost")
        edges = None if query.interval is None else bucket_edges(plan_series(lo, hi, query.interval, zone))
        rollup = (
            from_aggregates and rollup_prices_exactly(tariff, lo, hi) and await database.uses_hourly_rollup(session)
        )
        # Grouped by band segment when nothing needs the single rows: no filter, and points (if any) in
        # calendar buckets of the tariff's own zone, whose edges are local midnights.
        grouped = query.include is None and (
            query.interval is None or (query.interval.calendar and zone.key == tariff.zone.key)
        )
        segments = tariff if grouped else None
        rows = await energy_rows(session, query.muid, channel.obis, lo, hi, rollup=rollup, segments=segments)
    if query.include is not None:
        rows = [row for row in rows if query.include(row[0])]
    export = (query.priced_as or channel.direction) == "export"
    priced = price_readings(tariff, rows)
    if export:
        priced = [
            replace(row, band=FEED_IN_BAND, price=-row.feed_in_price, low_price=-row.feed_in_price) for row in priced
        ]
    band_order = [band.name for band in tariff.versions[0].bands]
    summary = summarize(priced, band_order)
    fee = Decimal(0) if export else fixed_fee(tariff, lo, hi)
    shift = None if query.shift is None or export else shift_figure(priced, query.shift, summary.energy_cost)
    points = None if edges is None else cost_points(priced, edges)
    return CostResult(query.muid, channel, tariff, zone, lo, hi, export, summary, fee, shift, points, rollup)


async def energy_rows(
    session: Session,
    muid: uuid.UUID,
    obis: str,
    lo: datetime,
    hi: datetime,
    *,
    rollup: bool,
    segments: Tariff | None = None,
) -> list[tuple[datetime, float, int]]:
    """(start, kWh, readings) of a channel in [lo, hi): per band segment of each local date of ``segments``
    (see sql.SEGMENTS_FROM_HOURLY), else per hour of the rollup or per raw reading."""
    if segments is not None:
        query = sql.SEGMENTS_FROM_HOURLY if rollup else sql.SEGMENTS_FROM_RAW
        records = await session.conn.fetch(query, muid, obis, lo, hi, segments.zone.key, segments.boundaries)
        return [(record[0], record[1], record[2]) for record in records]
    if rollup:
        records = await session.conn.fetch(sql.HOURLY_TOTALS, muid, obis, lo, hi)
        return [(record[0], record[1], record[2]) for record in records]
    timestamps, values = await session.values(muid, obis, lo, hi)
    return [(ts, value, 1) for ts, value in zip(timestamps, values, strict=True)]


def rollup_prices_exactly(tariff: Tariff, lo: datetime, hi: datetime) -> bool:
    """Whether pricing whole UTC hours gives the same as pricing each reading: every band boundary of the
    tariff on a whole local hour, the zone's UTC offset whole hours over [lo, hi) (Europe/Zurich: yes, also
    on its 23- and 25-hour days; Asia/Kolkata: no) and both ends on whole UTC hours."""
    return tariff.whole_hours and _whole_hour(lo) and _whole_hour(hi) and _whole_hour_offsets(tariff.zone, lo, hi)


@functools.lru_cache(maxsize=1024)
def _whole_hour_offsets(zone: ZoneInfo, lo: datetime, hi: datetime) -> bool:
    # Cached: dashboards ask for the same ranges again and again. Checked at every day's start and at the
    # end: zones change their offset at most a few times a year, never for less than a day.
    instant = lo
    while instant < hi:
        if not _whole_hour_offset(instant, zone):
            return False
        instant += timedelta(days=1)
    return _whole_hour_offset(hi - _ONE_HOUR, zone)


def _whole_hour(instant: datetime) -> bool:
    utc = instant.astimezone(UTC)
    return utc.minute == utc.second == utc.microsecond == 0


def _whole_hour_offset(instant: datetime, zone: ZoneInfo) -> bool:
    offset = instant.astimezone(zone).utcoffset()
    return offset is not None and offset % _ONE_HOUR == timedelta(0)
