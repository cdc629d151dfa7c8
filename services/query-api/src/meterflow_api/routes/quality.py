"""GET /v1/quality: per meter, for support staff: coverage and gaps (missing intervals) of each channel, the
last reading and whether the meter is silent. The fleet-wide numbers are metrics of the writer
(meterflow_writer_silent_meters, ..._missing_intervals_last_day; docs/slo.md); this is the per-meter view.

Answered from the channels table alone (interval, first and last reading, exact count: kept by the writer),
so a page costs the same at any readings table size. Gaps are counted between a channel's first and last
reading; a meter that stopped reporting shows as silent, not as gaps.
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
from meterflow_api.db import ChannelQualityRow
from meterflow_api.domain import DEFAULT_METERS_LIMIT, MAX_METERS_LIMIT, Problems, hex_of
from meterflow_api.domain.quality import channel_coverage, meter_coverage
from meterflow_api.render import json_response
from meterflow_api.routes.common import database, responses
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import QualityResponse

router = APIRouter(route_class=LeanParamsRoute)


@router.get(
    "/v1/quality",
    response_model=QualityResponse,
    summary="Data quality per meter: coverage, gaps, last reading, silent",
    description="Meters by muid, at most limit per page, each with its channels' expected, stored and missing "
    "intervals between their first and last reading, and whether it is silent (every channel without a reading "
    "for more than two of its intervals). silent=true lists only silent meters, silent=false only the others. "
    "When more meters follow, next_cursor is set: pass it as cursor for the next page.",
    responses=responses(None, not_found=False),
    tags=["meters"],
)
async def list_quality(
    request: Request,
    principal: ReadAccess,
    limit: Annotated[
        int,
        Query(description=f"Meters per page, 1..{MAX_METERS_LIMIT}; default {DEFAULT_METERS_LIMIT}.", examples=[100]),
    ] = DEFAULT_METERS_LIMIT,
    cursor: Annotated[
        str | None,
        Query(description="next_cursor of the previous page; omit for the first page.", examples=["lc4zZ8vOSk27"]),
    ] = None,
    silent: Annotated[
        bool | None,
        Query(description="true: only silent meters; false: only meters that report; omit: all.", examples=[True]),
    ] = None,
) -> Response:
    problems = Problems()
    problems.attempt(("query", "limit"), lambda: domain.parse_limit(limit, MAX_METERS_LIMIT))
    after = (
        None if cursor is None else problems.attempt(("query", "cursor"), lambda: domain.decode_meters_cursor(cursor))
    )
    problems.raise_if_any()
    return await quality_page(request, limit, after, silent, tenant=principal.tenant)


async def quality_page(
    request: Request, limit: int, after: uuid.UUID | None, silent: bool | None, tenant: str | None
) -> Response:
    """One page for ``tenant`` (None: every tenant)."""
    async with database(request).session() as session:
        rows = await session.quality(limit + 1, after, silent, tenant)
    meters = [(muid, list(channels)) for muid, channels in groupby(rows, key=attrgetter("muid"))]
    next_cursor = domain.encode_meters_cursor(uuid.UUID(meters[limit - 1][0])) if len(meters) > limit else None
    return json_response(
        {"meters": [_meter(muid, channels) for muid, channels in meters[:limit]], "next_cursor": next_cursor}
    )


def _meter(muid: str, channels: list[ChannelQualityRow]) -> dict[str, Any]:
    coverages = [channel_coverage(c.first, c.last, c.interval_s, c.count) for c in channels]
    total = meter_coverage(coverages)
    return {
        "muid": muid,
        "last_reading": max(c.last for c in channels),
        "silent": channels[0].meter_silent,
        "expected": total.expected,
        "missing": total.missing,
        "coverage": total.ratio,
        "channels": [
            {
                "obis": c.obis,
                "hex": hex_of(c.obis),
                "interval_s": c.interval_s,
                "first": c.first,
                "last": c.last,
                "count": c.count,
                "expected": coverage.expected,
                "missing": coverage.missing,
                "coverage": coverage.ratio,
                "silent": c.silent,
            }
            for c, coverage in zip(channels, coverages, strict=True)
        ],
    }
