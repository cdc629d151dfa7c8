"""GET /v1/meters/{muid}/series: aggregated series in calendar-aware buckets (the work is in ``series``), of
one channel (the original shape) or of several (repeated obis, or none on a meter with several channels)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from meterflow_obis import ObisCode
from starlette.responses import Response

from meterflow_api import domain, insights_db
from meterflow_api.auth import ReadAccess
from meterflow_api.caching import conditional, etag_of
from meterflow_api.domain import Problems
from meterflow_api.render import csv_response, json_response
from meterflow_api.routes.common import (
    AggParam,
    DayTypeParam,
    EndParam,
    FormatParam,
    HolidaysParam,
    IntervalParam,
    MuidPath,
    StartParam,
    TzParam,
    database,
    must,
    parse_day_filter,
    parse_meter_params,
    responses,
    settings,
)
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import SeriesResponse
from meterflow_api.series import SeriesQuery, SeriesResult, compute_multi_series, compute_series

router = APIRouter(route_class=LeanParamsRoute)

ObisListParam = Annotated[
    list[str] | None,
    Query(
        description=(
            "OBIS channel(s) as 12 hex digits, full or reduced notation. One: the series of that channel (the "
            "single-channel shape). Repeated (obis=A&obis=B), or omitted on a meter with several channels: "
            "every channel asked for (or every channel of the meter), in the multi-channel shape (channels[])."
        ),
        examples=[["0100011D00FF"], ["0100011D00FF", "0100021D00FF"]],
    ),
]


@router.get(
    "/v1/meters/{muid}/series",
    response_model=SeriesResponse,
    summary="Aggregated time series in calendar-aware buckets",
    description=(
        "Every bucket overlapping [start, end) in tz, oldest first, with the aggregate of the readings inside "
        "both the bucket and [start, end). Empty buckets are listed with value null and count 0: gaps are "
        "reported, never filled. 1d/1w/1mo follow the calendar of tz (a day is 23 or 25 hours across DST, weeks "
        "start on Monday); 15m/1h are fixed lengths on the zone's wall-clock grid (a 23-hour day has 23 hourly "
        "buckets). day_type keeps only the readings of weekdays, weekend days or public holidays (by their "
        "local date in tz). Sums and means are rounded to 12 significant digits (no binary noise). csv: "
        "start,end,value,count rows (several channels: obis,start,end,value,count). "
        "Several channels answer {muid, interval, agg, tz, channels: [{obis, unit, quantity, direction, "
        "points}]}. ETag and 304 on If-None-Match."
    ),
    responses=responses("start,end,value,count\n2023-02-01T00:00:00+00:00,2023-02-02T00:00:00+00:00,1.8766,96\n"),
    tags=["analytics"],
)
async def series(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    obis: ObisListParam = None,
    start: StartParam = None,
    end: EndParam = None,
    interval: IntervalParam = "1d",
    agg: AggParam = "sum",
    tz: TzParam = "UTC",
    fmt: FormatParam = "json",
    day_type: DayTypeParam = "all",
    holidays: HolidaysParam = None,
) -> Response:
    problems = Problems()
    codes = obis or []
    parsed = parse_meter_params(problems, muid, codes[0] if len(codes) == 1 else None, start, end, tz, muid_in="path")
    several = [_parsed_obis(problems, text) for text in codes] if len(codes) > 1 else []
    size = problems.attempt(("query", "interval"), lambda: domain.parse_interval(interval))
    aggregate = problems.attempt(("query", "agg"), lambda: domain.parse_agg(agg))
    days = parse_day_filter(problems, request, day_type, holidays)
    problems.raise_if_any()
    params, day_filter = must(parsed), must(days)
    query = SeriesQuery(
        params.muid,
        params.obis,
        params.start,
        params.end,
        must(size),
        must(aggregate),
        params.zone,
        day_filter.day_type,
        day_filter.region,
    )
    from_aggregates, tenant = settings(request).series_from_aggregates, principal.tenant
    db = database(request)

    async def build() -> Response:
        if len(codes) == 1:
            return _single_response(
                query, await compute_series(db, query, tenant, from_aggregates=from_aggregates), fmt
            )
        wanted = [must(code) for code in several]
        results = await compute_multi_series(db, query, wanted, tenant, from_aggregates=from_aggregates)
        if len(results) > 1 or len(codes) > 1:
            return _multi_response(query, results, fmt)
        return _single_response(query, results[0], fmt)

    return await conditional(
        request, etag_of(request, await insights_db.meter_version(db, query.muid, tenant)), build, tenant=tenant
    )


def _single_response(query: SeriesQuery, result: SeriesResult, fmt: str) -> Response:
    if fmt == "csv":
        return csv_response(["start", "end", "value", "count"], result.points, "series.csv")
    return json_response(
        {
            "muid": query.muid,
            "obis": result.channel.obis,
            "unit": None if query.agg == "count" else result.channel.unit,
            "interval": query.interval.name,
            "agg": query.agg,
            "tz": query.zone.key,
            "points": [{"start": p[0], "end": p[1], "value": p[2], "count": p[3]} for p in result.points],
        }
    )


def _parsed_obis(problems: Problems, text: str) -> ObisCode | None:
    return problems.attempt(("query", "obis"), lambda: domain.parse_obis(text))


def _multi_response(query: SeriesQuery, results: list[SeriesResult], fmt: str) -> Response:
    if fmt == "csv":
        rows = ((r.channel.obis, *point) for r in results for point in r.points)
        return csv_response(["obis", "start", "end", "value", "count"], rows, "series.csv")
    return json_response(
        {
            "muid": query.muid,
            "interval": query.interval.name,
            "agg": query.agg,
            "tz": query.zone.key,
            "channels": [_channel_series(query, result) for result in results],
        }
    )


def _channel_series(query: SeriesQuery, result: SeriesResult) -> dict[str, Any]:
    channel = result.channel
    return {
        "obis": channel.obis,
        "quantity": channel.quantity,
        "direction": channel.direction,
        "unit": None if query.agg == "count" else channel.unit,
        "points": [{"start": p[0], "end": p[1], "value": p[2], "count": p[3]} for p in result.points],
    }
