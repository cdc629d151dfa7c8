"""Tariffs: GET /v1/tariffs and /v1/tariffs/{name} (from tariffs.yaml and the tariffs table)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from meterflow_api.auth import ReadAccess
from meterflow_api.domain.tariffs import tariff_to_mapping
from meterflow_api.render import json_response
from meterflow_api.routes.common import database, responses, settings
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas_cost import TariffInfo, TariffsResponse
from meterflow_api.tariff_store import all_tariffs, tariff_named

router = APIRouter(route_class=LeanParamsRoute)

TariffPath = Annotated[str, Path(description="Tariff name.", examples=["ch-ht-nt"])]


@router.get(
    "/v1/tariffs",
    response_model=TariffsResponse,
    summary="Every tariff: bands by weekday and local time, prices, versions, holidays",
    description=(
        "Tariffs of the configured YAML file (API_TARIFFS__FILE; by default the shipped one with ch-ht-nt) "
        "and of the tariffs table; a table tariff replaces a file tariff of the same name. Prices per kWh."
    ),
    responses=responses(not_found=False),
    tags=["cost"],
)
async def tariffs(request: Request, _: ReadAccess) -> Response:
    db = database(request)
    async with db.session() as session:
        known = await all_tariffs(db, session, settings(request).tariffs)
    return json_response({"tariffs": [tariff_to_mapping(known[name]) for name in sorted(known)]})


@router.get(
    "/v1/tariffs/{name}",
    response_model=TariffInfo,
    summary="One tariff",
    responses={**responses(not_found=False), 404: {"description": "Unknown tariff: the message lists the known ones."}},
    tags=["cost"],
)
async def tariff(request: Request, _: ReadAccess, name: TariffPath) -> Response:
    db = database(request)
    async with db.session() as session:
        found = await tariff_named(db, session, settings(request).tariffs, name)
    return json_response(tariff_to_mapping(found))
