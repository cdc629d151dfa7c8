"""GET /v1/meters: what is stored, meter by meter and channel by channel, page by page (keyset cursor).

Answered from the channels table alone (one row per channel, kept by the writer), never from the readings:
a page costs the same at any table size.
"""

from __future__ import annotations

import uuid
from itertools import groupby
from operator import attrgetter
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from meterflow_api import domain
from meterflow_api.auth import ReadAccess
from meterflow_api.db import ChannelSummary
from meterflow_api.domain import DEFAULT_METERS_LIMIT, MAX_METERS_LIMIT, Problems, hex_of
from meterflow_api.render import csv_response, json_response
from meterflow_api.routes.common import FormatParam, database, limit_schema, responses
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import MetersResponse

router = APIRouter(route_class=LeanParamsRoute)

_CSV_HEADER = ["muid", "obis", "hex", "quantity", "direction", "unit", "first", "last", "count"]


@router.get(
    "/v1/meters",
    response_model=MetersResponse,
    summary="List meters and their channels",
    description="Every meter with stored readings that the credential's tenant owns (admin: every meter) and, "
    "per OBIS channel, its meaning, first and last interval "
    "and the number of readings. csv: one row per channel. Meters come by muid, at most limit per page; when "
    "more follow, next_cursor is set: pass it as cursor for the next page (csv: in the X-Next-Cursor header).",
    responses=responses(
        "muid,obis,hex,quantity,direction,unit,first,last,count\n"
        "95ce3367-cbce-4a4d-bbe3-da082831d7bd,1-0:1.29.0*255,0100011D00FF,active_energy,import,kWh,"
        "2023-02-01T00:00:00+00:00,2023-02-28T23:45:00+00:00,2688\n",
        not_found=False,
    ),
    tags=["meters"],
)
async def list_meters(
    request: Request,
    principal: ReadAccess,
    fmt: FormatParam = "json",
    limit: Annotated[
        int,
        Query(
            description=(
                f"Meters per page (with all their channels), 1..{MAX_METERS_LIMIT}; default {DEFAULT_METERS_LIMIT}."
            ),
            examples=[DEFAULT_METERS_LIMIT],
            json_schema_extra=limit_schema(MAX_METERS_LIMIT),
        ),
    ] = DEFAULT_METERS_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            description="next_cursor of the previous page; omit for the first page. Meters are listed by muid.",
            examples=["lc4zZ8vOSk2749oIKDHXvQ"],
        ),
    ] = None,
) -> Response:
    problems = Problems()
    problems.attempt(("query", "limit"), lambda: domain.parse_limit(limit, MAX_METERS_LIMIT))
    after = (
        None if cursor is None else problems.attempt(("query", "cursor"), lambda: domain.decode_meters_cursor(cursor))
    )
    problems.raise_if_any()
    async with database(request).session() as session:
        summaries = await session.meters(limit + 1, after, principal.tenant)
    meters = [(muid, list(channels)) for muid, channels in groupby(summaries, key=attrgetter("muid"))]
    next_cursor = domain.encode_meters_cursor(uuid.UUID(meters[limit - 1][0])) if len(meters) > limit else None
    page = meters[:limit]
    if fmt == "csv":
        headers = {"X-Next-Cursor": next_cursor} if next_cursor else None
        rows = [_csv_row(s) for _, channels in page for s in channels]
        return csv_response(_CSV_HEADER, rows, "meters.csv", headers)
    return json_response(
        {
            "meters": [{"muid": muid, "channels": [_channel(s) for s in channels]} for muid, channels in page],
            "next_cursor": next_cursor,
        }
    )


def _channel(s: ChannelSummary) -> dict[str, Any]:
    return {
        "obis": s.obis,
        "hex": hex_of(s.obis),
        "quantity": s.quantity,
        "direction": s.direction,
        "unit": s.unit,
        "first": s.first,
        "last": s.last,
        "count": s.count,
    }


def _csv_row(s: ChannelSummary) -> tuple[Any, ...]:
    return (s.muid, s.obis, hex_of(s.obis), s.quantity, s.direction, s.unit, s.first, s.last, s.count)
