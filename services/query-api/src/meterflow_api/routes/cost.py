"""What a channel's energy cost: GET /v1/meters/{muid}/cost (the work is in ``meterflow_api.cost``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from meterflow_obis import parse
from starlette.responses import Response

from meterflow_api import domain
from meterflow_api.auth import ReadAccess
from meterflow_api.config import Settings
from meterflow_api.cost import MAX_COST_LABEL, CostQuery, CostResult, compute_cost, tariff_for
from meterflow_api.db import Database
from meterflow_api.domain import INTERVALS, Problems
from meterflow_api.domain.compare import comparison_range, differences, parse_compare
from meterflow_api.domain.holidays import is_holiday
from meterflow_api.domain.pricing import kwh_shown, money_shown
from meterflow_api.errors import ParamError
from meterflow_api.render import csv_response, json_response
from meterflow_api.routes.common import (
    CompareParam,
    DayFilter,
    DayTypeParam,
    EndParam,
    FormatParam,
    HolidaysParam,
    MuidPath,
    ObisParam,
    StartParam,
    database,
    must,
    parse_day_filter,
    parse_meter_params,
    responses,
    settings,
)
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas_cost import CostResponse

router = APIRouter(route_class=LeanParamsRoute)

TariffParam = Annotated[
    str,
    Query(description="Tariff name, as listed by GET /v1/tariffs.", examples=["ch-ht-nt"]),
]
CostTzParam = Annotated[
    str | None,
    Query(
        description=(
            "IANA time zone of naive start/end, of the times shown and of the points' buckets. Default: the "
            "tariff's zone. Pricing always reads each interval start in the tariff's zone, whatever tz is."
        ),
        examples=["Europe/Zurich"],
    ),
]
CostIntervalParam = Annotated[
    str | None,
    Query(
        description="Bucket size of points (15m, 1h, 1d, 1w, 1mo, in tz); without it no points are returned.",
        examples=["1d"],
        json_schema_extra={"enum": list(INTERVALS)},
    ),
]
ShiftParam = Annotated[
    str | None,
    Query(
        description=(
            "Share 0..1 of the energy priced above the low (cheapest) band to price in the low band instead: "
            "the response's shift gives the cost after such a shift and the saving."
        ),
        examples=["0.2"],
    ),
]

_CSV_EXAMPLE = (
    "name,valid_from,price,kwh,cost\nhigh,2000-01-01,0.32,40.1234,12.8395\nlow,2000-01-01,0.22,57.4848,12.6467\n"
)


def parse_share(text: str) -> Decimal:
    try:
        share = Decimal(text.strip())
    except InvalidOperation:
        share = Decimal("NaN")
    if not share.is_finite() or not 0 <= share <= 1:
        raise ParamError(f"shift must be a share between 0 and 1, e.g. 0.2 for a fifth (got {domain.quoted(text)})")
    return share


@router.get(
    "/v1/meters/{muid}/cost",
    response_model=CostResponse,
    summary="Energy cost of a channel under a time-of-use tariff",
    description=(
        "kWh and cost of [start, end) by tariff band. Each reading is priced by its interval start read in the "
        "TARIFF's zone (a Zurich tariff's 07:00 is 07:00 in Zurich, also across DST), at the tariff version in "
        "force on that local date, so a price change mid-period splits its band into one entry per price. "
        "Public holidays count as the band the tariff names for them. An export channel is priced by the "
        "feed-in price (band feed_in, negative cost: what the grid pays). Money and kWh are exact decimals "
        "rounded half-even to 4 and 6 places; total_cost = energy_cost + fixed_fee (the monthly fee pro rata). "
        "day_type (weekday, weekend, holiday; in tz) prices only the readings of those local days. compare "
        "(previous, year) adds the same figures for the compared period and the differences. "
        f"Default range: the channel's data. Longest range: {MAX_COST_LABEL}. csv: one row per band, or per "
        "point when interval is given."
    ),
    responses=responses(_CSV_EXAMPLE),
    tags=["cost"],
)
async def meter_cost(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    tariff: TariffParam,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    tz: CostTzParam = None,
    interval: CostIntervalParam = None,
    shift: ShiftParam = None,
    fmt: FormatParam = "json",
    day_type: DayTypeParam = "all",
    holidays: HolidaysParam = None,
    compare: CompareParam = None,
) -> Response:
    config = settings(request)
    db = database(request)
    if tz is None:  # naive start/end are read in the tariff's zone: the tariff first
        async with db.session() as session:
            tz = (await tariff_for(db, session, config.tariffs, tariff)).zone.key
    problems = Problems()
    parsed = parse_meter_params(problems, muid, obis, start, end, tz, muid_in="path")
    size = (
        None if interval is None else problems.attempt(("query", "interval"), lambda: domain.parse_interval(interval))
    )
    share = None if shift is None else problems.attempt(("query", "shift"), lambda: parse_share(shift))
    days = parse_day_filter(problems, request, day_type, holidays)
    mode = None if compare is None else problems.attempt(("query", "compare"), lambda: parse_compare(compare))
    problems.raise_if_any()
    params, day_filter = must(parsed), must(days)
    include = None if day_filter.day_type == "all" else keeps_days_of(day_filter, params.zone)
    query = CostQuery(
        params.muid, params.obis, params.start, params.end, tariff, params.zone, size, share, include=include
    )
    result = await compute_cost(
        db, query, config.tariffs, tenant=principal.tenant, from_aggregates=config.series_from_aggregates
    )
    if fmt == "csv":
        if result.points is not None:
            rows = [(p["start"], p["end"], p["kwh"], p["cost"], p["count"]) for p in result.body()["points"]]
            return csv_response(["start", "end", "kwh", "cost", "count"], rows, "cost.csv")
        bands = result.summary.bands
        return csv_response(
            ["name", "valid_from", "price", "kwh", "cost"],
            [(b.name, b.valid_from.isoformat(), float(b.price), kwh_shown(b.kwh), money_shown(b.cost)) for b in bands],
            "cost.csv",
        )
    body = result.body()
    if mode is not None:
        body["compare"] = await _comparison(db, query, result, mode, config, principal.tenant)
    return json_response(body)


async def _comparison(
    db: Database, query: CostQuery, result: CostResult, mode: str, config: Settings, tenant: str | None
) -> dict[str, Any]:
    """The same channel, tariff and day filter over the period compared with (previous or a year before)."""
    zone = query.zone or result.zone
    lo, hi = comparison_range(mode, result.start, result.end, zone)
    earlier = await compute_cost(
        db,
        replace(query, obis=parse(result.channel.obis), start=lo, end=hi, interval=None, shift=None),
        config.tariffs,
        tenant=tenant,
        from_aggregates=config.series_from_aggregates,
    )
    now, before = result.body(), earlier.body()
    return {
        "mode": mode,
        "start": before["start"],
        "end": before["end"],
        "total_kwh": before["total_kwh"],
        "total_cost": before["total_cost"],
        "difference": differences(now, before, ("total_kwh", "total_cost")),
    }


def keeps_days_of(day_filter: DayFilter, zone: ZoneInfo) -> Callable[[datetime], bool]:
    """Whether an interval start (UTC) lies on a local day in ``zone`` that the day_type keeps (weekday and
    weekend as the calendar says, holidays not taken out; holiday: the region's public holidays)."""

    @functools.lru_cache(maxsize=1024)
    def keeps(day: date) -> bool:
        if day_filter.day_type == "holiday":
            return is_holiday(day_filter.region, day)
        return (day.weekday() >= 5) == (day_filter.day_type == "weekend")

    return lambda instant: keeps(instant.astimezone(zone).date())
