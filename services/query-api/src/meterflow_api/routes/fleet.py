"""Tenant-wide figures: GET /v1/fleet/series and /v1/fleet/top (the work is in ``fleet``).

Tenancy: the meters come from insights_db.scoped_channels with the caller's tenant (None for an admin
credential: every tenant's meters).
"""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from meterflow_api import domain, insights_db
from meterflow_api.auth import ReadAccess
from meterflow_api.caching import conditional, etag_of
from meterflow_api.domain import Problems
from meterflow_api.fleet import MAX_TOP, FleetQuery, fleet_series, fleet_top
from meterflow_api.render import json_response
from meterflow_api.routes.common import IntervalParam, TzParam, database, must, responses, settings
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas_insights import FleetSeriesResponse, FleetTopResponse

router = APIRouter(route_class=LeanParamsRoute)

FleetStart = Annotated[
    str, Query(description="Start (inclusive), ISO 8601; without offset: in tz.", examples=["2023-02-01"])
]
FleetEnd = Annotated[str, Query(description="End (exclusive), same forms as start.", examples=["2023-03-01"])]


def _fleet_query(problems: Problems, start: str, end: str, tz: str, tenant: str | None) -> FleetQuery | None:
    zone = problems.attempt(("query", "tz"), lambda: domain.parse_zone(tz))
    in_zone = zone or ZoneInfo("UTC")
    lo = problems.attempt(("query", "start"), lambda: domain.parse_instant(start, in_zone))
    hi = problems.attempt(("query", "end"), lambda: domain.parse_instant(end, in_zone))
    if zone is None or lo is None or hi is None:
        return None
    return FleetQuery(lo, hi, zone, tenant=tenant)


async def _fleet_version(request: Request, tenant: str | None) -> tuple[object, ...]:
    async with database(request).session() as session:
        scoped = await insights_db.scoped_channels(session, tenant)
        return await insights_db.meters_version(session, sorted({s.muid for s in scoped}))


@router.get(
    "/v1/fleet/series",
    response_model=FleetSeriesResponse,
    summary="Sum over all meters per bucket and channel kind",
    description=(
        "Every bucket of [start, end) in tz (as GET /series), with the sum of the readings of every channel of "
        "a kind (quantity, direction, unit) over the caller's meters, the readings summed and the meters "
        "that had readings in the bucket. ETag and 304 on If-None-Match."
    ),
    responses=responses(not_found=False),
    tags=["fleet"],
)
async def series(
    request: Request,
    principal: ReadAccess,
    start: FleetStart,
    end: FleetEnd,
    interval: IntervalParam = "1d",
    tz: TzParam = "UTC",
) -> Response:
    problems = Problems()
    query = _fleet_query(problems, start, end, tz, principal.tenant)
    size = problems.attempt(("query", "interval"), lambda: domain.parse_interval(interval))
    problems.raise_if_any()
    fleet, bucket = must(query), must(size)
    from_aggregates = settings(request).series_from_aggregates

    async def build() -> Response:
        return json_response(await fleet_series(database(request), fleet, bucket, from_aggregates=from_aggregates))

    return await conditional(
        request, etag_of(request, await _fleet_version(request, principal.tenant)), build, tenant=principal.tenant
    )


@router.get(
    "/v1/fleet/top",
    response_model=FleetTopResponse,
    summary="The meters that consumed most in a period",
    description=(
        f"The n (1..{MAX_TOP}) meters with the most active energy import in [start, end) (at most 366 days), "
        "largest first (ties by muid). ETag and 304 on If-None-Match."
    ),
    responses=responses(not_found=False),
    tags=["fleet"],
)
async def top(
    request: Request,
    principal: ReadAccess,
    start: FleetStart,
    end: FleetEnd,
    n: Annotated[int, Query(description=f"How many meters, 1..{MAX_TOP}.", examples=[10])] = 10,
    tz: TzParam = "UTC",
) -> Response:
    problems = Problems()
    query = _fleet_query(problems, start, end, tz, principal.tenant)
    if not 1 <= n <= MAX_TOP:
        problems.add(("query", "n"), f"n must be 1..{MAX_TOP}, got {n}")
    problems.raise_if_any()
    fleet = must(query)
    from_aggregates = settings(request).series_from_aggregates

    async def build() -> Response:
        return json_response(await fleet_top(database(request), fleet, n, from_aggregates=from_aggregates))

    return await conditional(
        request, etag_of(request, await _fleet_version(request, principal.tenant)), build, tenant=principal.tenant
    )
