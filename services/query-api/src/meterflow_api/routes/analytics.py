"""Analyses of one channel over a range: GET /v1/meters/{muid}/profile, /stats and /autocorrelation."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from meterflow_api import domain, insights_db
from meterflow_api.auth import ReadAccess
from meterflow_api.caching import conditional, etag_of
from meterflow_api.domain import DEFAULT_STEP, Problems
from meterflow_api.domain.compare import parse_compare
from meterflow_api.domain.statistics import assemble_patterns, whole_hour_offsets
from meterflow_api.render import json_response
from meterflow_api.routes.common import (
    CompareParam,
    DayTypeParam,
    EndParam,
    HolidaysParam,
    MuidPath,
    ObisParam,
    StartParam,
    TzParam,
    bounded_range,
    database,
    must,
    parse_day_filter,
    parse_meter_params,
    responses,
    settings,
)
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import AutocorrelationResponse, ProfileResponse, StatsResponse
from meterflow_api.stats import comparison, stats_figures

router = APIRouter(route_class=LeanParamsRoute)


@router.get(
    "/v1/meters/{muid}/profile",
    response_model=ProfileResponse,
    summary="Typical day and week: mean value by hour, by weekday and by weekday and hour",
    description=(
        "Means of the interval values (e.g. kWh per 15 minutes) in [start, end), grouped by the hour of day "
        "and the weekday of each interval start in tz. Weekdays run Monday (index 0) to Sunday. null where no "
        "reading falls. day_type keeps weekdays, weekend days or public holidays only. patterns=true adds "
        "patterns: per hour of day and per weekday and hour, statistics of the energy per clock hour (n, mean, "
        "std, min, max, p10, p50, p90; from the hourly rollup where tz has whole-hour offsets, else the raw "
        f"rows). Longest range: {domain.MAX_ANALYSIS_LABEL}. ETag and 304 on If-None-Match."
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
    day_type: DayTypeParam = "all",
    holidays: HolidaysParam = None,
    patterns: Annotated[
        bool,
        Query(description="Add hour-of-day and weekday patterns with spread and percentiles.", examples=[True]),
    ] = False,
) -> Response:
    problems = Problems()
    parsed = parse_meter_params(problems, muid, obis, start, end, tz, muid_in="path")
    days_filter = parse_day_filter(problems, request, day_type, holidays)
    problems.raise_if_any()
    params, day_filter = must(parsed), must(days_filter)
    db = database(request)

    async def build() -> Response:
        async with db.session() as session:
            channel, lo, hi = await bounded_range(
                session, params, principal, domain.MAX_ANALYSIS_RANGE, domain.MAX_ANALYSIS_LABEL, "profile"
            )
            days = day_filter.dates(lo, hi, params.zone)
            result = domain.assemble_profile(
                await session.profile(params.muid, channel.obis, params.zone.key, lo, hi, days)
            )
            body: dict[str, Any] = {
                "muid": params.muid,
                "obis": channel.obis,
                "unit": channel.unit,
                "tz": params.zone.key,
                "by_hour": result.by_hour,
                "by_weekday": result.by_weekday,
                "weekday_hour": result.weekday_hour,
            }
            if patterns:
                from_rollup = (
                    settings(request).series_from_aggregates
                    and whole_hour_offsets(lo, hi, params.zone)
                    and await db.uses_hourly_rollup(session)
                )
                rows = await insights_db.patterns(
                    session, params.muid, channel.obis, params.zone.key, lo, hi, days, from_rollup=from_rollup
                )
                body["patterns"] = {"unit": channel.unit, **assemble_patterns(rows)}
        return json_response(body)

    version = await insights_db.meter_version(db, params.muid, principal.tenant)
    return await conditional(request, etag_of(request, version), build, tenant=principal.tenant)


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
        "range every value is null and count 0. day_type keeps weekdays, weekend days or public holidays only. "
        "compare=previous (the period of equal length before) or year (the same dates a year before) adds "
        "compare: the same figures for that period and the differences (absolute, relative) of total, mean, "
        "base_load, count and coverage. ETag and 304 on If-None-Match."
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
    day_type: DayTypeParam = "all",
    holidays: HolidaysParam = None,
    compare: CompareParam = None,
) -> Response:
    problems = Problems()
    parsed = parse_meter_params(problems, muid, obis, start, end, tz, muid_in="path")
    days_filter = parse_day_filter(problems, request, day_type, holidays)
    mode = None if compare is None else problems.attempt(("query", "compare"), lambda: parse_compare(compare))
    problems.raise_if_any()
    params, day_filter = must(parsed), must(days_filter)
    db = database(request)

    async def build() -> Response:
        async with db.session() as session:
            channel, lo, filter_hi = await bounded_range(
                session, params, principal, domain.MAX_ANALYSIS_RANGE, domain.MAX_ANALYSIS_LABEL, "stats"
            )
            days = day_filter.dates(lo, filter_hi, params.zone)
            figures = await stats_figures(session, params.muid, channel, params.zone, lo, filter_hi, params.end, days)
            body: dict[str, Any] = {
                "muid": params.muid,
                "obis": channel.obis,
                "unit": channel.unit,
                "tz": params.zone.key,
                **figures,
            }
            if mode is not None:
                hi = params.end if params.end is not None else channel.last + timedelta(seconds=figures["interval_s"])
                body["compare"] = await comparison(
                    session,
                    params.muid,
                    channel,
                    params.zone,
                    mode,
                    figures,
                    lo,
                    hi,
                    day_filter.day_type,
                    day_filter.region,
                )
        return json_response(body)

    version = await insights_db.meter_version(db, params.muid, principal.tenant)
    return await conditional(request, etag_of(request, version), build, tenant=principal.tenant)


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
