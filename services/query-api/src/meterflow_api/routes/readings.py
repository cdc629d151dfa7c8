"""GET /v1/meters/{muid}/readings: raw interval readings of one channel, page by page (keyset cursor)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from meterflow_api import domain
from meterflow_api.auth import ReadAccess
from meterflow_api.domain import DEFAULT_LIMIT, MAX_LIMIT, ONE_MICROSECOND, Problems, shown
from meterflow_api.instants import utc_instant, utc_instants, utc_texts
from meterflow_api.render import csv_response, json_response
from meterflow_api.routes.common import (
    EndParam,
    FormatParam,
    MuidPath,
    ObisParam,
    StartParam,
    TzParam,
    chosen_channel,
    database,
    limit_schema,
    must,
    parse_meter_params,
    responses,
)
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import ReadingsResponse

router = APIRouter(route_class=LeanParamsRoute)


@router.get(
    "/v1/meters/{muid}/readings",
    response_model=ReadingsResponse,
    summary="Raw interval readings, paginated",
    description=(
        "Readings of one channel in [start, end), oldest first, at most limit per page. When more follow, "
        "next_cursor is set: pass it as cursor (keeping the other parameters) for the next page. "
        "csv: ts,value,quality rows; the cursor of the next page is in the X-Next-Cursor header."
    ),
    responses=responses("ts,value,quality\n2023-02-01T00:00:00+00:00,0.0239,measured\n"),
    tags=["readings"],
)
async def readings(
    request: Request,
    principal: ReadAccess,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    limit: Annotated[
        int,
        Query(
            description=f"Readings per page, 1..{MAX_LIMIT}.",
            examples=[DEFAULT_LIMIT],
            json_schema_extra=limit_schema(MAX_LIMIT),
        ),
    ] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            description="next_cursor of the previous page; omit for the first page.",
            examples=["MjAyMy0wMi0wMVQwMDozMDowMC4wMDAwMDArMDA6MDA"],
        ),
    ] = None,
    tz: TzParam = "UTC",
    fmt: FormatParam = "json",
) -> Response:
    problems = Problems()
    parsed = parse_meter_params(problems, muid, obis, start, end, tz, muid_in="path")
    problems.attempt(("query", "limit"), lambda: domain.parse_limit(limit))
    after = None if cursor is None else problems.attempt(("query", "cursor"), lambda: domain.decode_cursor(cursor))
    problems.raise_if_any()
    params = must(parsed)
    async with database(request).session() as session:
        channel = await chosen_channel(session, params, principal)
        lo, hi = domain.resolve_range(params.start, params.end, channel)
        domain.check_order(lo, hi, params.zone)
        if after is not None:
            lo = max(lo, after + ONE_MICROSECOND)
        page = await session.readings(params.muid, channel.obis, lo, hi, limit + 1)
    # limit + 1 were fetched: one more means a next page (the zips below stop at the shorter micros).
    micros = page.micros[:limit]
    next_cursor = domain.encode_cursor(utc_instant(micros[-1])) if len(page.micros) > limit else None
    zone = params.zone
    if fmt == "csv":
        headers = {"X-Next-Cursor": next_cursor} if next_cursor else None
        stamps: list[Any] = [shown(t, zone) for t in utc_instants(micros)]
        rows = zip(stamps, page.values, page.qualities, strict=False)
        return csv_response(["ts", "value", "quality"], rows, "readings.csv", headers)
    # In UTC (the default) the text of each instant comes ready from the cache: no datetime to format.
    stamps = utc_texts(micros) if zone.key == "UTC" else [t.astimezone(zone) for t in utc_instants(micros)]
    return json_response(
        {
            "muid": params.muid,
            "obis": channel.obis,
            "unit": channel.unit,
            "readings": [
                {"ts": t, "value": v, "quality": q}
                for t, v, q in zip(stamps, page.values, page.qualities, strict=False)
            ],
            "next_cursor": next_cursor,
        }
    )
