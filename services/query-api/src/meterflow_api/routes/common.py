"""What every resource's endpoints share: the parameter declarations (each with a description and examples
for the OpenAPI document), the documented error responses, and the parsing of the per-meter parameters.

Handlers validate every parameter first (collecting all problems into one 422), then resolve the channel
(404 for an unknown meter or channel), then run their queries. They return pre-serialized bodies: the
pydantic models in ``schemas`` document the shapes and the tests hold the answers to them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Final, Literal, TypeVar, cast
from zoneinfo import ZoneInfo

from fastapi import Path, Query, Request
from meterflow_obis import ObisCode

from meterflow_api import domain
from meterflow_api.auth import Principal
from meterflow_api.config import Settings
from meterflow_api.db import Database, Session
from meterflow_api.domain import AGGS, INTERVALS, Channel, Problems
from meterflow_api.domain.compare import COMPARE_MODES
from meterflow_api.domain.holidays import DAY_TYPES, Region, dates_in_range, parse_day_type, parse_region
from meterflow_api.schemas import ErrorResponse, ValidationErrorResponse

T = TypeVar("T")

# What start/end accept, for generated clients: an ISO 8601 date or date-time (with or without offset).
INSTANT_SCHEMA: Final[dict[str, Any]] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}


def limit_schema(maximum: int) -> dict[str, Any]:
    """The bounds of a limit parameter, documented (the handler checks them with its own message)."""
    return {"minimum": 1, "maximum": maximum}


EXAMPLE_MUID: Final = domain.EXAMPLE_MUID

# format uuid: a generated client knows that anything else is refused (422).
MuidPath = Annotated[
    str,
    Path(
        description="Meter id (UUID), as listed by GET /v1/meters.",
        examples=[EXAMPLE_MUID],
        json_schema_extra={"format": "uuid"},
    ),
]
ObisParam = Annotated[
    str | None,
    Query(
        description=(
            "OBIS channel as 12 hex digits, full or reduced notation. Optional when the meter has one "
            "channel; otherwise required (the 422 lists the channels)."
        ),
        examples=["0100011D00FF", "1-0:1.29.0*255", "1.29.0"],
    ),
]
StartParam = Annotated[
    str | None,
    Query(
        description=(
            "Start of the range (inclusive): ISO 8601 date or date-time. A date or a date-time without offset "
            "is a wall-clock time in tz. Default: the channel's first reading."
        ),
        examples=["2023-02-01", "2023-02-01T06:00", "2023-02-01T05:00:00Z"],
        json_schema_extra=INSTANT_SCHEMA,
    ),
]
EndParam = Annotated[
    str | None,
    Query(
        description=(
            "End of the range (exclusive), same forms as start. Default: just after the channel's last reading."
        ),
        examples=["2023-03-01", "2023-03-01T00:00:00+01:00"],
        json_schema_extra=INSTANT_SCHEMA,
    ),
]
TzParam = Annotated[
    str,
    Query(
        description="IANA time zone for buckets, hours and weekdays, naive start/end and the timestamps shown.",
        examples=["UTC", "Europe/Zurich"],
    ),
]
FormatParam = Annotated[
    Literal["json", "csv"],
    Query(alias="format", description="json (default) or csv (a table with a header row).", examples=["csv"]),
]
IntervalParam = Annotated[
    str,
    Query(
        description=(
            "Bucket size: 15m, 1h (absolute, aligned to the wall clock), 1d, 1w (Monday), 1mo (calendar, in tz). "
            "Longest range: 15m 31 days, 1h 366 days, 1d 10 years, 1w 20 years, 1mo 100 years."
        ),
        examples=["1d"],
        json_schema_extra={"enum": list(INTERVALS)},
    ),
]
AggParam = Annotated[
    str,
    Query(
        description="Aggregate per bucket: sum, avg, min, max or count.",
        examples=["sum"],
        json_schema_extra={"enum": list(AGGS)},
    ),
]

DayTypeParam = Annotated[
    str,
    Query(
        description=(
            "Which days count, by the local date in tz: all, weekday (Monday to Friday), weekend (Saturday "
            "and Sunday) or holiday (the public holidays of the holidays= region)."
        ),
        examples=["weekday"],
        json_schema_extra={"enum": list(DAY_TYPES)},
    ),
]
HolidaysParam = Annotated[
    str | None,
    Query(
        description=(
            "Region of the public holidays for day_type=holiday: ISO 3166 country and optional subdivision "
            "(CH, CH-ZH, DE-BY). Default: the server's API_INSIGHTS__HOLIDAY_REGION (CH-ZH)."
        ),
        examples=["CH-ZH"],
    ),
]

_CSV_TEXT = {"schema": {"type": "string"}}


def responses(csv_example: str | None = None, not_found: bool = True) -> dict[int | str, dict[str, Any]]:
    """The documented answers besides 200: 401, 403, 422, 503 and (for per-meter endpoints) 404; a CSV example."""
    documented: dict[int | str, dict[str, Any]] = {
        401: {
            "model": ErrorResponse,
            "description": "No credential, or an unknown, revoked, expired or invalid one (see WWW-Authenticate).",
        },
        403: {"model": ErrorResponse, "description": "The credential lacks the read scope."},
        422: {"model": ValidationErrorResponse, "description": "A parameter is invalid; each message says how."},
        503: {"model": ErrorResponse, "description": "The database is unavailable or the query timed out."},
    }
    if not_found:
        documented[404] = {
            "model": ErrorResponse,
            "description": "Unknown meter (or another tenant's), or the meter has no such channel.",
        }
    if csv_example is not None:
        documented[200] = {"content": {"text/csv": {**_CSV_TEXT, "example": csv_example}}}
    return documented


def database(request: Request) -> Database:
    return cast(Database, request.app.state.db)


def settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def must(value: T | None) -> T:
    assert value is not None  # only after Problems.raise_if_any()
    return value


@dataclass(frozen=True, slots=True)
class MeterParams:
    """The parameters every per-meter endpoint takes, parsed."""

    muid: uuid.UUID
    obis: ObisCode | None
    zone: ZoneInfo
    start: datetime | None
    end: datetime | None


def parse_meter_params(
    problems: Problems, muid: str, obis: str | None, start: str | None, end: str | None, tz: str, *, muid_in: str
) -> MeterParams | None:
    """The per-meter parameters, or None with each problem added to ``problems``."""
    meter = problems.attempt((muid_in, "muid"), lambda: domain.parse_muid(muid))
    code = None if obis is None else problems.attempt(("query", "obis"), lambda: domain.parse_obis(obis))
    zone = problems.attempt(("query", "tz"), lambda: domain.parse_zone(tz))
    in_zone = zone or ZoneInfo("UTC")
    lo = None if start is None else problems.attempt(("query", "start"), lambda: domain.parse_instant(start, in_zone))
    hi = None if end is None else problems.attempt(("query", "end"), lambda: domain.parse_instant(end, in_zone))
    if problems.items:
        return None
    return MeterParams(must(meter), code, must(zone), lo, hi)


def meter_params_or_422(muid: str, obis: str | None, start: str | None, end: str | None, tz: str) -> MeterParams:
    """The parameters of a per-meter analysis, validated; a 422 lists every problem at once."""
    problems = Problems()
    parsed = parse_meter_params(problems, muid, obis, start, end, tz, muid_in="path")
    problems.raise_if_any()
    return must(parsed)


async def chosen_channel(session: Session, params: MeterParams, principal: Principal) -> Channel:
    """The channel asked for, of a meter the principal may read (NotFound otherwise, as for an unknown one)."""
    return domain.choose_channel(params.muid, params.obis, await session.channels(params.muid, principal.tenant))


async def bounded_range(
    session: Session, params: MeterParams, principal: Principal, max_range: timedelta, label: str, what: str
) -> tuple[Channel, datetime, datetime]:
    """The channel asked for and the range to analyse: the request's, or the channel's data, within limits."""
    channel = await chosen_channel(session, params, principal)
    lo, hi = domain.resolve_range(params.start, params.end, channel)
    domain.check_range(lo, hi, params.zone, max_range, label, what)
    return channel, lo, hi


CompareParam = Annotated[
    str | None,
    Query(
        description="previous: the period of equal length just before; year: the same dates a year before.",
        examples=["previous"],
        json_schema_extra={"enum": list(COMPARE_MODES)},
    ),
]


@dataclass(frozen=True, slots=True)
class DayFilter:
    """A parsed day_type with its holiday region."""

    day_type: str
    region: Region

    def dates(self, start: datetime, end: datetime, zone: ZoneInfo) -> list[date] | None:
        """The local dates of [start, end) in ``zone`` to keep; None for every day (day_type=all)."""
        return dates_in_range(self.day_type, self.region, start, end, zone)


def parse_day_filter(problems: Problems, request: Request, day_type: str, region: str | None) -> DayFilter | None:
    """day_type and holidays, or None with the problems added; the region defaults to the settings'."""
    kind = problems.attempt(("query", "day_type"), lambda: parse_day_type(day_type))
    text = region if region is not None else settings(request).insights.holiday_region
    where = problems.attempt(("query", "holidays"), lambda: parse_region(text))
    if kind is None or where is None:
        return None
    return DayFilter(kind, where)
