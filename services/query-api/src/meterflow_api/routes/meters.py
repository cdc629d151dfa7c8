"""GET /v1/meters: what is stored, meter by meter and channel by channel."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from meterflow_api.render import csv_response, json_response
from meterflow_api.routes.common import FormatParam, channel_meta, database, responses
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import MetersResponse

router = APIRouter(route_class=LeanParamsRoute)


@router.get(
    "/v1/meters",
    response_model=MetersResponse,
    summary="List meters and their channels",
    description="Every meter with stored readings and, per OBIS channel, its meaning, first and last interval "
    "and the number of readings. csv: one row per channel.",
    responses=responses(
        "muid,obis,hex,quantity,direction,unit,first,last,count\n"
        "95ce3367-cbce-4a4d-bbe3-da082831d7bd,1-0:1.29.0*255,0100011D00FF,active_energy,import,kWh,"
        "2023-02-01T00:00:00+00:00,2023-02-28T23:45:00+00:00,2688\n",
        not_found=False,
    ),
    tags=["meters"],
)
async def list_meters(request: Request, fmt: FormatParam = "json") -> Response:
    async with database(request).session() as session:
        summaries = await session.meters()
    if fmt == "csv":
        rows = [(s.muid, s.obis, *channel_meta(s.obis), s.first, s.last, s.count) for s in summaries]
        return csv_response(
            ["muid", "obis", "hex", "quantity", "direction", "unit", "first", "last", "count"], rows, "meters.csv"
        )
    meters: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in summaries:
        hex_code, quantity, direction, unit = channel_meta(s.obis)
        meters[s.muid].append(
            {
                "obis": s.obis,
                "hex": hex_code,
                "quantity": quantity,
                "direction": direction,
                "unit": unit,
                "first": s.first,
                "last": s.last,
                "count": s.count,
            }
        )
    return json_response({"meters": [{"muid": muid, "channels": channels} for muid, channels in meters.items()]})
