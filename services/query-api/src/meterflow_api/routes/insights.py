"""A meter at a glance: GET /v1/meters/{muid}/insights and /overview (the work is in ``insights``).

Tenancy: both resolve the meter through insights_db.scoped_channels with the caller's tenant (None for an
admin credential): another tenant's meter is a 404, like an unknown one.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from meterflow_obis import parse
from starlette.responses import Response

from meterflow_api import insights_db
from meterflow_api.auth import ReadAccess
from meterflow_api.caching import conditional, etag_of
from meterflow_api.config import Settings
from meterflow_api.cost import CostQuery, compute_cost
from meterflow_api.db import Database
from meterflow_api.domain import Problems
from meterflow_api.insights import MeterRangeQuery, compute_insights, compute_overview
from meterflow_api.render import json_response
from meterflow_api.routes.common import (
    EndParam,
    MuidPath,
    StartParam,
    TzParam,
    database,
    must,
    parse_meter_params,
    responses,
    settings,
)
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas_insights import InsightsResponse, OverviewResponse

router = APIRouter(route_class=LeanParamsRoute)

OverviewTariffParam = Annotated[
    str | None,
    Query(
        description="With a tariff name (GET /v1/tariffs): the cost of the range as GET /cost gives it.",
        examples=["ch-ht-nt"],
    ),
]


def _query(muid: str, start: str | None, end: str | None, tz: str, tenant: str | None) -> MeterRangeQuery:
    problems = Problems()
    parsed = parse_meter_params(problems, muid, None, start, end, tz, muid_in="path")
    problems.raise_if_any()
    params = must(parsed)
    return MeterRangeQuery(params.muid, params.start, params.end, params.zone, tenant=tenant)


@router.get(
    "/v1/meters/{muid}/insights",
    response_model=InsightsResponse,
    summary="Insights: base load, standby share, peak hours, weekday vs weekend, unusual days, PV window",
    description=(
        "Computed from the meter's active energy import channel (consumption) and export channel (PV window) "
        "in [start, end) (default: the meter's data; at most 366 days), by clock hours and local days in tz. "
        "base_load: the lowest mean energy per hour of the night hours 00:00-06:00, in kW; standby: base load "
        "x hours with readings as a share of the consumption; peak_hours: the 3 hours of day with the highest "
        "mean energy; weekday_weekend: mean energy per day and per hour of day on Monday-Friday vs "
        "Saturday-Sunday; unusual_days: the 3 days farthest from the median hourly shape of their weekday "
        "(robust z-score, unusual above 3.5); pv_window: first and last non-zero export interval per day. Each "
        "comes with a sentence to show as is; what the channels cannot support is named in unavailable."
    ),
    responses=responses(),
    tags=["insights"],
)
async def insights(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    start: StartParam = None,
    end: EndParam = None,
    tz: TzParam = "UTC",
) -> Response:
    query = _query(muid, start, end, tz, principal.tenant)
    db = database(request)
    from_aggregates = settings(request).series_from_aggregates

    async def build() -> Response:
        return json_response(await compute_insights(db, query, from_aggregates=from_aggregates))

    version = await insights_db.meter_version(db, query.muid, query.tenant)
    return await conditional(request, etag_of(request, version), build, tenant=query.tenant)


@router.get(
    "/v1/meters/{muid}/overview",
    response_model=OverviewResponse,
    summary="Everything a dashboard shows of a meter in one call",
    description=(
        "For every channel of the meter: the stats of [start, end) (as GET /stats), the daily sums (as GET "
        "/series?interval=1d) and the weekday x hour heatmap of mean interval values (as GET /profile); and "
        "the insights (as GET /insights). Default range: the meter's data; at most 366 days."
    ),
    responses=responses(),
    tags=["insights"],
)
async def overview(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    start: StartParam = None,
    end: EndParam = None,
    tz: TzParam = "UTC",
    tariff: OverviewTariffParam = None,
) -> Response:
    query = _query(muid, start, end, tz, principal.tenant)
    db = database(request)
    config = settings(request)

    async def build() -> Response:
        body = await compute_overview(db, query, from_aggregates=config.series_from_aggregates)
        if tariff is not None:
            body["cost"] = await _overview_cost(db, query, body, tariff, config)
        return json_response(body)

    version = await insights_db.meter_version(db, query.muid, query.tenant)
    if tariff is not None:
        # A tariff's prices may change (the tariffs table) without a write to the meter: no ETag then.
        return await build()
    return await conditional(request, etag_of(request, version), build, tenant=query.tenant)


async def _overview_cost(
    db: Database, query: MeterRangeQuery, overview: dict[str, Any], tariff: str, config: Settings
) -> dict[str, Any] | None:
    """The cost of the meter's active energy import channel under ``tariff`` (as GET /cost), or None when the
    meter has no such channel."""
    imports = [
        c["obis"] for c in overview["channels"] if c["quantity"] == "active_energy" and c["direction"] == "import"
    ]
    if not imports:
        return None
    cost = CostQuery(query.muid, parse(imports[0]), query.start, query.end, tariff, query.zone)
    result = await compute_cost(
        db, cost, config.tariffs, tenant=query.tenant, from_aggregates=config.series_from_aggregates
    )
    return result.body()
