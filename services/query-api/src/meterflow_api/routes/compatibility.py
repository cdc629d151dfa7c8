"""GET /meterdata/measurement: readings in the source company's own record format, as a drop-in."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from meterflow_api import domain
from meterflow_api.auth import ReadAccess
from meterflow_api.domain import MAX_LIMIT, MEASUREMENT_DEFAULT_LIMIT, ONE_MICROSECOND, Channel, Problems
from meterflow_api.errors import InvalidRequest, NotFound
from meterflow_api.render import json_response
from meterflow_api.routes.common import (
    EXAMPLE_MUID,
    INSTANT_SCHEMA,
    database,
    limit_schema,
    must,
    parse_meter_params,
    responses,
    settings,
)
from meterflow_api.routing import LeanParamsRoute
from meterflow_api.schemas import SourceRecordsResponse

router = APIRouter(route_class=LeanParamsRoute)


@router.get(
    "/meterdata/measurement",
    response_model=SourceRecordsResponse,
    summary="Readings in the source company's own format",
    description=(
        'Drop-in for the energy company\'s endpoint: {"data": [records]} with the records as its files hold '
        "them, newest first: one record per interval start (and quality) carrying the value of each selected "
        "channel under its hex OBIS code. Integral values are written as JSON integers (0, as the source does), "
        "others as the shortest exact decimal. At most limit records; for more, repeat with stop set to the "
        "oldest timestamp received. start..stop spans at most 366 days (API_LIMITS__MAX_MEASUREMENT_DAYS); "
        "without start, the range is that many days before stop."
    ),
    responses=responses(),
    tags=["compatibility"],
)
async def source_measurement(
    request: Request,
    principal: ReadAccess,
    muid: Annotated[
        str, Query(description="Meter id (UUID).", examples=[EXAMPLE_MUID], json_schema_extra={"format": "uuid"})
    ],
    measurement: Annotated[
        str | None,
        Query(
            description="energy or power (channels decoded as *_energy / *_power); default: every channel.",
            examples=["energy"],
        ),
    ] = None,
    start: Annotated[
        str | None,
        Query(
            description="First interval start (inclusive), ISO 8601; naive means UTC.",
            examples=["2023-02-01"],
            json_schema_extra=INSTANT_SCHEMA,
        ),
    ] = None,
    stop: Annotated[
        str | None,
        Query(
            description="End (exclusive), ISO 8601; naive means UTC.",
            examples=["2023-03-01"],
            json_schema_extra=INSTANT_SCHEMA,
        ),
    ] = None,
    limit: Annotated[
        int,
        Query(
            description=f"Records at most, 1..{MAX_LIMIT}.", examples=[3000], json_schema_extra=limit_schema(MAX_LIMIT)
        ),
    ] = MEASUREMENT_DEFAULT_LIMIT,
) -> Response:
    problems = Problems()
    parsed = parse_meter_params(problems, muid, None, start, stop, "UTC", muid_in="query")
    problems.attempt(("query", "limit"), lambda: domain.parse_limit(limit))
    problems.raise_if_any()
    params = must(parsed)
    async with database(request).session() as session:
        channels = await session.channels(params.muid, principal.tenant)
        if not channels:
            raise NotFound(f"unknown meter {params.muid}: no readings stored for it")
        groups: dict[str, list[Channel]] = defaultdict(list)
        for channel in channels:
            groups[channel.measurement].append(channel)
        if measurement is not None:
            if measurement not in groups:
                known = ", ".join(sorted(groups))
                raise NotFound(f"meter {params.muid} has no {measurement!r} channels; its measurements: {known}")
            groups = {measurement: groups[measurement]}
        lo = params.start if params.start is not None else min(c.first for c in channels)
        hi = params.end if params.end is not None else max(c.last for c in channels) + ONE_MICROSECOND
        domain.check_order(lo, hi, params.zone)
        lo = within_cap(lo, hi, params.start is None, settings(request).limits.max_measurement_days)
        fetched = [
            (name, await session.source_records(params.muid, [c.obis for c in members], lo, hi, limit))
            for name, members in sorted(groups.items())
        ]
    records: list[tuple[datetime, str, dict[str, Any]]] = []
    tags_muid = str(params.muid)
    for name, rows in fetched:
        for ts, quality, codes, values in rows:
            record: dict[str, Any] = {
                "measurement": name,
                "timestamp": domain.source_timestamp(ts),
                "tags": {"muid": tags_muid, "quality": quality},
            }
            for code, value in zip(codes, values, strict=True):
                record[domain.hex_of(code)] = domain.source_number(value)
            records.append((ts, name, record))
    if len(fetched) > 1:
        records.sort(key=lambda item: item[1])
        records.sort(key=lambda item: item[0], reverse=True)
    return json_response({"data": [record for _, _, record in records[:limit]]})


def within_cap(start: datetime, stop: datetime, start_omitted: bool, max_days: int) -> datetime:
    """The start of the range to read: records are grouped over the whole range before the newest are taken, so
    its length is capped; an omitted start is the cap's length before stop (paging by stop goes on from there)."""
    cap = timedelta(days=max_days)
    if stop - start <= cap:
        return start
    if start_omitted:
        return stop - cap
    days = (stop - start) / timedelta(days=1)
    raise InvalidRequest.one(
        ("query", "stop"),
        f"range too large: at most {max_days} days from start to stop, got {days:.1f}; narrow start/stop "
        "or leave start out (it then defaults to the longest range before stop)",
    )
