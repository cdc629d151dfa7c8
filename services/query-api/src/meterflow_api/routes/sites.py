"""Sites: GET /v1/sites, /v1/sites/{site}, /v1/sites/{site}/balance and /v1/sites/{site}/cost (the work is in
``meterflow_api.sites``). Each handler resolves the site through ``sites.resolve_site`` / ``list_sites`` with a
tenant: the caller's (the principal's; None for an admin: every tenant's)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from meterflow_api import domain
from meterflow_api.auth import ReadAccess
from meterflow_api.domain import Problems
from meterflow_api.render import csv_response, json_response
from meterflow_api.routes.common import (
    EndParam,
    FormatParam,
    IntervalParam,
    StartParam,
    TzParam,
    database,
    must,
    responses,
    settings,
)
from meterflow_api.routes.cost import CostIntervalParam, ShiftParam, TariffParam, parse_share
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas_cost import BalanceResponse, SiteCostResponse, SiteInfo, SitesResponse
from meterflow_api.sites import RangeQuery, balance_body, compute_balance, compute_site_cost, list_sites, resolve_site

router = APIRouter(route_class=LeanParamsRoute)

SitePath = Annotated[str, Path(description="Site name, as listed by GET /v1/sites.", examples=["demo-home"])]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown site (or one of another tenant)."}}
BALANCE_COLUMNS = (
    "start",
    "end",
    "import_kwh",
    "export_kwh",
    "net_kwh",
    "production_kwh",
    "self_consumption_kwh",
    "self_consumption_rate",
    "self_sufficiency",
)
SITE_COST_POINT_COLUMNS = [
    "start",
    "end",
    "import_kwh",
    "export_kwh",
    "import_cost",
    "export_remuneration",
    "net_cost",
]
_BALANCE_CSV = (
    "start,end,import_kwh,export_kwh,net_kwh\n"
    "2023-02-01T00:00:00+01:00,2023-02-02T00:00:00+01:00,1.8299,2.07875,-0.24885\n"
)


def _range_query(start: str | None, end: str | None, tz: str, interval: str | None) -> RangeQuery:
    problems = Problems()
    zone = problems.attempt(("query", "tz"), lambda: domain.parse_zone(tz))
    in_zone = zone or domain.parse_zone("UTC")
    lo = None if start is None else problems.attempt(("query", "start"), lambda: domain.parse_instant(start, in_zone))
    hi = None if end is None else problems.attempt(("query", "end"), lambda: domain.parse_instant(end, in_zone))
    size = (
        None if interval is None else problems.attempt(("query", "interval"), lambda: domain.parse_interval(interval))
    )
    problems.raise_if_any()
    return RangeQuery(lo, hi, must(zone), size)


@router.get(
    "/v1/sites",
    response_model=SitesResponse,
    summary="Sites: channels grouped as grid import, grid export, PV production and sub-meters",
    responses=responses(not_found=False),
    tags=["sites"],
)
async def sites(request: Request, principal: ReadAccess) -> Response:
    async with database(request).session() as session:
        found = await list_sites(session, principal.tenant)
    return json_response({"sites": [site.shown() for site in found]})


@router.get(
    "/v1/sites/{site}",
    response_model=SiteInfo,
    summary="One site",
    responses={**responses(not_found=False), **_NOT_FOUND},
    tags=["sites"],
)
async def site(request: Request, principal: ReadAccess, site: SitePath) -> Response:
    async with database(request).session() as session:
        found = await resolve_site(session, site, principal.tenant)
    return json_response(found.shown())


@router.get(
    "/v1/sites/{site}/balance",
    response_model=BalanceResponse,
    summary="Energy balance: import, export, net, production, self-consumption and self-sufficiency",
    description=(
        "Per bucket of interval (in tz) and in total: import_kwh, export_kwh, net_kwh = import - export and, "
        "when the site has a production channel, production_kwh, self_consumption_kwh = production - export, "
        "self_consumption_rate = self_consumption / production and self_sufficiency = self_consumption / "
        "(import + self_consumption). A figure the site's channels cannot support is absent and named in "
        "unavailable with the reason (an export meter is not a production meter). Default range: the import "
        "channel's data. csv: one row per point, one column per supported figure and per sub-meter "
        "(submeter_<label>_kwh)."
    ),
    responses={**responses(_BALANCE_CSV), **_NOT_FOUND},
    tags=["sites"],
)
async def balance(
    request: Request,
    principal: ReadAccess,
    site: SitePath,
    start: StartParam = None,
    end: EndParam = None,
    interval: IntervalParam = "1d",
    tz: TzParam = "UTC",
    fmt: FormatParam = "json",
) -> Response:
    query = _range_query(start, end, tz, interval)
    db = database(request)
    async with db.session() as session:
        found = await resolve_site(session, site, principal.tenant)
    result = await compute_balance(
        db, found, query, tenant=principal.tenant, from_aggregates=settings(request).series_from_aggregates
    )
    body = balance_body(found, result, query.zone, must(query.interval))
    if fmt == "csv":
        columns = [c for c in BALANCE_COLUMNS if c in ("start", "end") or c not in result.unavailable]
        labels = sorted(body["totals"].get("submeters") or {})
        rows = [
            [point.get(c) for c in columns] + [point["submeters"][label] for label in labels]
            for point in body["points"]
        ]
        return csv_response(columns + [f"submeter_{label}_kwh" for label in labels], rows, "balance.csv")
    return json_response(body)


@router.get(
    "/v1/sites/{site}/cost",
    response_model=SiteCostResponse,
    summary="Net cost of a site: the import channel's cost minus the export channel's feed-in remuneration",
    description=(
        "The import channel priced as GET /v1/meters/{muid}/cost does (bands, monthly fee), the export channel "
        "by the tariff's feed-in price; total_cost = import total_cost - export remuneration. Default range: "
        "the import channel's data; tz defaults to UTC for naive start/end and the shown times. csv: one row per "
        "point when interval is given (start,end,import_kwh,export_kwh,import_cost,export_remuneration,net_cost), "
        "else one per channel (role,muid,obis,kwh,cost)."
    ),
    responses={**responses(), **_NOT_FOUND},
    tags=["sites"],
)
async def site_cost(
    request: Request,
    principal: ReadAccess,
    site: SitePath,
    tariff: TariffParam,
    start: StartParam = None,
    end: EndParam = None,
    interval: CostIntervalParam = None,
    tz: TzParam = "UTC",
    shift: ShiftParam = None,
    fmt: FormatParam = "json",
) -> Response:
    share = None
    if shift is not None:
        problems = Problems()
        share = problems.attempt(("query", "shift"), lambda: parse_share(shift))
        problems.raise_if_any()
    query = _range_query(start, end, tz, interval)
    db = database(request)
    config = settings(request)
    async with db.session() as session:
        found = await resolve_site(session, site, principal.tenant)
    body: dict[str, Any] = await compute_site_cost(
        db,
        found,
        query,
        tariff,
        config.tariffs,
        tenant=principal.tenant,
        shift=share,
        from_aggregates=config.series_from_aggregates,
    )
    if fmt == "csv":
        if "points" in body:
            return csv_response(
                SITE_COST_POINT_COLUMNS,
                [[p[c] for c in SITE_COST_POINT_COLUMNS] for p in body["points"]],
                "site-cost.csv",
            )
        parts = [(role, body[role]) for role in ("import", "export") if body[role] is not None]
        rows = [(role, p["muid"], p["obis"], p["total_kwh"], p["total_cost"]) for role, p in parts]
        return csv_response(["role", "muid", "obis", "kwh", "cost"], rows, "site-cost.csv")
    return json_response(body)
