"""GET /v1/meters/{muid}/series: aggregated series in calendar-aware buckets (the work is in ``series``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from meterflow_api import domain
from meterflow_api.auth import ReadAccess
from meterflow_api.domain import Problems
from meterflow_api.render import csv_response, json_response
from meterflow_api.routes.common import (
    AggParam,
    EndParam,
    FormatParam,
    IntervalParam,
    MuidPath,
    ObisParam,
    StartParam,
    TzParam,
    database,
    must,
    parse_meter_params,
    responses,
    settings,
)
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import SeriesResponse
from meterflow_api.series import SeriesQuery, compute_series

router = APIRouter(route_class=LeanParamsRoute)


@router.get(
    "/v1/meters/{muid}/series",
    response_model=SeriesResponse,
    summary="Aggregated time series in calendar-aware buckets",
    description=(
        "Every bucket overlapping [start, end) in tz, oldest first, with the aggregate of the readings inside "
        "both the bucket and [start, end). Empty buckets are listed with value null and count 0: gaps are "
        "reported, never filled. 1d/1w/1mo follow the calendar of tz (a day is 23 or 25 hours across DST, weeks "
        "start on Monday); 15m/1h are fixed lengths on the zone's wall-clock grid (a 23-hour day has 23 hourly "
        "buckets). csv: start,end,value,count rows."
    ),
    responses=responses("start,end,value,count\n2023-02-01T00:00:00+00:00,2023-02-02T00:00:00+00:00,1.8766,96\n"),
    tags=["analytics"],
)
async def series(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    interval: IntervalParam = "1d",
    agg: AggParam = "sum",
    tz: TzParam = "UTC",
    fmt: FormatParam = "json",
) -> Response:
    problems = Problems()
    parsed = parse_meter_params(problems, muid, obis, start, end, tz, muid_in="path")
    size = problems.attempt(("query", "interval"), lambda: domain.parse_interval(interval))
    aggregate = problems.attempt(("query", "agg"), lambda: domain.parse_agg(agg))
    problems.raise_if_any()
    params = must(parsed)
    query = SeriesQuery(params.muid, params.obis, params.start, params.end, must(size), must(aggregate), params.zone)
    result = await compute_series(
        database(request), query, principal.tenant, from_aggregates=settings(request).series_from_aggregates
    )
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
