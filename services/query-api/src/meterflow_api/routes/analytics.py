"""Analyses of one channel over a range: GET /v1/meters/{muid}/profile, /stats and /autocorrelation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from meterflow_api import domain
from meterflow_api.auth import ReadAccess
from meterflow_api.domain import DEFAULT_STEP, Problems, shown
from meterflow_api.render import json_response
from meterflow_api.routes.common import (
    EndParam,
    MuidPath,
    ObisParam,
    StartParam,
    TzParam,
    bounded_range,
    database,
    meter_params_or_422,
    must,
    parse_meter_params,
    responses,
)
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import AutocorrelationResponse, ProfileResponse, StatsResponse

router = APIRouter(route_class=LeanParamsRoute)


@router.get(
    "/v1/meters/{muid}/profile",
    response_model=ProfileResponse,
    summary="Typical day and week: mean value by hour, by weekday and by weekday and hour",
    description=(
        "Means of the interval values (e.g. kWh per 15 minutes) in [start, end), grouped by the hour of day "
        "and the weekday of each interval start in tz. Weekdays run Monday (index 0) to Sunday. null where no "
        f"reading falls. Longest range: {domain.MAX_ANALYSIS_LABEL}."
    ),
    responses=responses(),
    tags=["analytics"],
)
async def profile(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    tz: TzParam = "UTC",
) -> Response:
    params = meter_params_or_422(muid, obis, start, end, tz)
    async with database(request).session() as session:
        channel, lo, hi = await bounded_range(
            session, params, principal, domain.MAX_ANALYSIS_RANGE, domain.MAX_ANALYSIS_LABEL, "profile"
        )
        result = domain.assemble_profile(await session.profile(params.muid, channel.obis, params.zone.key, lo, hi))
    return json_response(
        {
            "muid": params.muid,
            "obis": channel.obis,
            "unit": channel.unit,
            "tz": params.zone.key,
            "by_hour": result.by_hour,
            "by_weekday": result.by_weekday,
            "weekday_hour": result.weekday_hour,
        }
    )


@router.get(
    "/v1/meters/{muid}/stats",
    response_model=StatsResponse,
    summary="Summary statistics of a range",
    description=(
        "Total, mean, extremes with their interval start, base load (the 10th percentile of the interval "
        "values, continuous), the hour of day (in tz) with the highest mean, and data coverage: expected is the "
        "number of intervals in [start, end) at the channel's interval (inferred from the data: the most "
        "frequent gap between readings, 900 s for 15-minute data). Default range: from the first reading to "
        f"the end of the last interval. Longest range: {domain.MAX_ANALYSIS_LABEL}. Without readings in the "
        "range every value is null and count 0."
    ),
    responses=responses(),
    tags=["analytics"],
)
async def stats(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    tz: TzParam = "UTC",
) -> Response:
    params = meter_params_or_422(muid, obis, start, end, tz)
    async with database(request).session() as session:
        channel, lo, filter_hi = await bounded_range(
            session, params, principal, domain.MAX_ANALYSIS_RANGE, domain.MAX_ANALYSIS_LABEL, "stats"
        )
        result = await session.stats(
            params.muid, channel.obis, params.zone.key, lo, filter_hi, domain.BASE_LOAD_PERCENTILE
        )
        step = result.step or channel.interval or DEFAULT_STEP
    hi = params.end if params.end is not None else channel.last + step
    expected = domain.expected_intervals(lo, hi, step)
    zone = params.zone
    return json_response(
        {
            "muid": params.muid,
            "obis": channel.obis,
            "unit": channel.unit,
            "tz": zone.key,
            "start": shown(lo, zone),
            "end": shown(hi, zone),
            "interval_s": int(step.total_seconds()),
            "total": result.total,
            "mean": result.mean,
            "min": {"value": result.min_value, "at": None if result.min_at is None else shown(result.min_at, zone)},
            "max": {"value": result.max_value, "at": None if result.max_at is None else shown(result.max_at, zone)},
            "base_load": result.base_load,
            "peak_hour": result.peak_hour,
            "count": result.count,
            "expected": expected,
            "coverage": domain.coverage(result.count, expected),
        }
    )


@router.get(
    "/v1/meters/{muid}/autocorrelation",
    response_model=AutocorrelationResponse,
    summary="Autocorrelation at given lags",
    description=(
        "The readings in [start, end) are placed on a regular grid of the channel's interval (inferred from "
        "the data); missing intervals stay missing (NaN) and drop out of every sum. r(k) = sum of "
        "(x[t]-m)(x[t+k]-m) over the pairs where both are present / sum of (x[t]-m)^2 over present t, m the "
        "mean: the textbook estimator (statsmodels acf with missing='conservative'). null when undefined "
        f"(lag not shorter than the series, constant series). Longest range: {domain.MAX_ACF_LABEL}."
    ),
    responses=responses(),
    tags=["analytics"],
)
async def autocorrelation(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    lags: Annotated[
        str,
        Query(
            description=f"Comma-separated lags in intervals (1..{domain.MAX_LAG}, at most {domain.MAX_LAGS}); "
            "for 15-minute data 96 is one day and 672 one week.",
            examples=["96,672"],
        ),
    ] = "96,672",
    tz: TzParam = "UTC",
) -> Response:
    problems = Problems()
    parsed = parse_meter_params(problems, muid, obis, start, end, tz, muid_in="path")
    lag_list = problems.attempt(("query", "lags"), lambda: domain.parse_lags(lags))
    problems.raise_if_any()
    params, lag_list = must(parsed), must(lag_list)
    async with database(request).session() as session:
        channel, lo, hi = await bounded_range(
            session, params, principal, domain.MAX_ACF_RANGE, domain.MAX_ACF_LABEL, "autocorrelation"
        )
        timestamps, values = await session.values(params.muid, channel.obis, lo, hi)
    step = channel.interval or DEFAULT_STEP
    grid = domain.regular_series(timestamps, values, step)
    result = domain.autocorrelation(grid, lag_list)
    return json_response(
        {
            "muid": params.muid,
            "obis": channel.obis,
            "interval_s": int(step.total_seconds()),
            "lags": [{"lag": lag, "value": value} for lag, value in zip(lag_list, result, strict=True)],
        }
    )
