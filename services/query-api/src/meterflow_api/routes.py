"""HTTP endpoints of the query API: parameter parsing, the database calls and the response shapes.

Handlers validate every parameter first (collecting all problems into one 422), then resolve the channel
(404 for an unknown meter or channel), then run one aggregate query. They return pre-serialized bodies:
the pydantic models in ``schemas`` document the shapes and the tests hold the answers to them.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Final, Literal, TypeVar, cast
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Query, Request
from meterflow_obis import ObisCode, ObisError, decode
from starlette.responses import Response

from meterflow_api import domain, metrics
from meterflow_api.config import Settings
from meterflow_api.db import Database, Session
from meterflow_api.domain import (
    AGGS,
    DEFAULT_LIMIT,
    DEFAULT_STEP,
    INTERVALS,
    MAX_LIMIT,
    MEASUREMENT_DEFAULT_LIMIT,
    ONE_MICROSECOND,
    Channel,
    NotFound,
    Problems,
)
from meterflow_api.params import LeanParamsRoute
from meterflow_api.render import csv_response, json_response
from meterflow_api.schemas import (
    AutocorrelationResponse,
    ErrorResponse,
    MetersResponse,
    ProfileResponse,
    ReadingsResponse,
    SeriesResponse,
    SourceRecordsResponse,
    StatsResponse,
    ValidationErrorResponse,
)

T = TypeVar("T")
router = APIRouter(route_class=LeanParamsRoute)

EXAMPLE_MUID: Final = domain.EXAMPLE_MUID

# --- parameters, each with a description and examples for the OpenAPI document ------------------------------

MuidPath = Annotated[
    str,
    Path(description="Meter id (UUID), as listed by GET /v1/meters.", examples=[EXAMPLE_MUID]),
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
    ),
]
EndParam = Annotated[
    str | None,
    Query(
        description=(
            "End of the range (exclusive), same forms as start. Default: just after the channel's last reading."
        ),
        examples=["2023-03-01", "2023-03-01T00:00:00+01:00"],
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

_CSV_TEXT = {"schema": {"type": "string"}}


def _responses(csv_example: str | None = None, not_found: bool = True) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {
        422: {"model": ValidationErrorResponse, "description": "A parameter is invalid; each message says how."},
        503: {"model": ErrorResponse, "description": "The database is unavailable or the query timed out."},
    }
    if not_found:
        responses[404] = {"model": ErrorResponse, "description": "Unknown meter, or the meter has no such channel."}
    if csv_example is not None:
        responses[200] = {"content": {"text/csv": {**_CSV_TEXT, "example": csv_example}}}
    return responses


# --- helpers -----------------------------------------------------------------------------------------------


def _db(request: Request) -> Database:
    return cast(Database, request.app.state.db)


def _settings(request: Request) -> Settings:
    return cast(Settings, request.app.state.settings)


def _must(value: T | None) -> T:
    assert value is not None  # only after Problems.raise_if_any()
    return value


@dataclass(frozen=True, slots=True)
class Common:
    muid: uuid.UUID
    obis: ObisCode | None
    zone: ZoneInfo
    start: datetime | None
    end: datetime | None


def _parse_common(
    problems: Problems, muid: str, obis: str | None, start: str | None, end: str | None, tz: str, *, muid_in: str
) -> Common | None:
    meter = problems.attempt((muid_in, "muid"), lambda: domain.parse_muid(muid))
    code = None if obis is None else problems.attempt(("query", "obis"), lambda: domain.parse_obis(obis))
    zone = problems.attempt(("query", "tz"), lambda: domain.parse_zone(tz))
    in_zone = zone or ZoneInfo("UTC")
    lo = None if start is None else problems.attempt(("query", "start"), lambda: domain.parse_instant(start, in_zone))
    hi = None if end is None else problems.attempt(("query", "end"), lambda: domain.parse_instant(end, in_zone))
    if problems.items:
        return None
    return Common(_must(meter), code, _must(zone), lo, hi)


async def _channel(db: Session, common: Common) -> Channel:
    return domain.choose_channel(common.muid, common.obis, await db.channels(common.muid))


def _meter_params_or_422(muid: str, obis: str | None, start: str | None, end: str | None, tz: str) -> Common:
    """The parameters of a per-meter analysis, validated; a 422 lists every problem at once."""
    problems = Problems()
    parsed = _parse_common(problems, muid, obis, start, end, tz, muid_in="path")
    problems.raise_if_any()
    return _must(parsed)


async def _bounded_range(
    db: Session, common: Common, max_range: timedelta, label: str, what: str
) -> tuple[Channel, datetime, datetime]:
    """The channel asked for and the range to analyse: the request's, or the channel's data, within limits."""
    channel = await _channel(db, common)
    lo, hi = domain.resolve_range(common.start, common.end, channel)
    domain.check_range(lo, hi, common.zone, max_range, label, what)
    return channel, lo, hi


@functools.lru_cache(maxsize=4096)
def _channel_meta(obis: str) -> tuple[str, str, str | None, str | None]:
    """(hex, quantity, direction, unit) of a stored code."""
    try:
        info = decode(obis)
    except ObisError:
        return obis, "unknown", None, None
    return info.hex, info.quantity, info.direction, info.unit


def _shown(ts: datetime, zone: ZoneInfo) -> datetime:
    return ts if zone.key == "UTC" else _in_zone(ts, zone)


@functools.lru_cache(maxsize=4096)
def _in_zone(ts: datetime, zone: ZoneInfo) -> datetime:
    # Cached: series show the same bucket bounds again and again, and astimezone costs a few µs each.
    return ts.astimezone(zone)


# --- meters ------------------------------------------------------------------------------------------------


@router.get(
    "/v1/meters",
    response_model=MetersResponse,
    summary="List meters and their channels",
    description="Every meter with stored readings and, per OBIS channel, its meaning, first and last interval "
    "and the number of readings. csv: one row per channel.",
    responses=_responses(
        "muid,obis,hex,quantity,direction,unit,first,last,count\n"
        "95ce3367-cbce-4a4d-bbe3-da082831d7bd,1-0:1.29.0*255,0100011D00FF,active_energy,import,kWh,"
        "2023-02-01T00:00:00+00:00,2023-02-28T23:45:00+00:00,2688\n",
        not_found=False,
    ),
    tags=["meters"],
)
async def list_meters(request: Request, fmt: FormatParam = "json") -> Response:
    async with _db(request).session() as db:
        summaries = await db.meters()
    if fmt == "csv":
        rows = [(s.muid, s.obis, *_channel_meta(s.obis), s.first, s.last, s.count) for s in summaries]
        return csv_response(
            ["muid", "obis", "hex", "quantity", "direction", "unit", "first", "last", "count"], rows, "meters.csv"
        )
    meters: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in summaries:
        hex_code, quantity, direction, unit = _channel_meta(s.obis)
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


# --- raw readings ------------------------------------------------------------------------------------------


@router.get(
    "/v1/meters/{muid}/readings",
    response_model=ReadingsResponse,
    summary="Raw interval readings, paginated",
    description=(
        "Readings of one channel in [start, end), oldest first, at most limit per page. When more follow, "
        "next_cursor is set: pass it as cursor (keeping the other parameters) for the next page. "
        "csv: ts,value,quality rows; the cursor of the next page is in the X-Next-Cursor header."
    ),
    responses=_responses("ts,value,quality\n2023-02-01T00:00:00+00:00,0.0239,measured\n"),
    tags=["readings"],
)
async def readings(
    request: Request,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    limit: Annotated[
        int, Query(description=f"Readings per page, 1..{MAX_LIMIT}.", examples=[DEFAULT_LIMIT])
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
    common = _parse_common(problems, muid, obis, start, end, tz, muid_in="path")
    problems.attempt(("query", "limit"), lambda: domain.parse_limit(limit))
    after = None if cursor is None else problems.attempt(("query", "cursor"), lambda: domain.decode_cursor(cursor))
    problems.raise_if_any()
    common = _must(common)
    async with _db(request).session() as db:
        channel = await _channel(db, common)
        lo, hi = domain.resolve_range(common.start, common.end, channel)
        domain.check_order(lo, hi, common.zone)
        if after is not None:
            lo = max(lo, after + ONE_MICROSECOND)
        rows = await db.readings(common.muid, channel.obis, lo, hi, limit + 1)
    next_cursor = domain.encode_cursor(rows[limit - 1][0]) if len(rows) > limit else None
    rows = rows[:limit]
    zone = common.zone
    if fmt == "csv":
        headers = {"X-Next-Cursor": next_cursor} if next_cursor else None
        return csv_response(
            ["ts", "value", "quality"], ((_shown(r[0], zone), r[1], r[2]) for r in rows), "readings.csv", headers
        )
    utc = zone.key == "UTC"
    return json_response(
        {
            "muid": common.muid,
            "obis": channel.obis,
            "unit": _channel_meta(channel.obis)[3],
            "readings": [{"ts": r[0] if utc else r[0].astimezone(zone), "value": r[1], "quality": r[2]} for r in rows],
            "next_cursor": next_cursor,
        }
    )


# --- series ------------------------------------------------------------------------------------------------

# Position of each aggregate in a db.SeriesRow.
_AGG_INDEX: Final = {"sum": 2, "avg": 3, "min": 4, "max": 5, "count": 6}


@router.get(
    "/v1/meters/{muid}/series",
    response_model=SeriesResponse,
    summary="Aggregated time series in calendar-aware buckets",
    description=(
        "Every bucket overlapping [start, end) in tz, oldest first, with the aggregate of the readings inside "
        "both the bucket and [start, end). Empty buckets are listed with value null and count 0: gaps are "
        "reported, never filled. 1d/1w/1mo follow the calendar of tz (a day is 23 or 25 hours across DST, weeks "
        "start on Monday); 15m/1h are fixed lengths on the zone's wall-clock grid (a 23-hour day has 23 hourly "
        "buckets). csv: start,end,value,count rows."
    ),
    responses=_responses("start,end,value,count\n2023-02-01T00:00:00+00:00,2023-02-02T00:00:00+00:00,1.8766,96\n"),
    tags=["analytics"],
)
async def series(
    request: Request,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    interval: IntervalParam = "1d",
    agg: AggParam = "sum",
    tz: TzParam = "UTC",
    fmt: FormatParam = "json",
) -> Response:
    problems = Problems()
    common = _parse_common(problems, muid, obis, start, end, tz, muid_in="path")
    size = problems.attempt(("query", "interval"), lambda: domain.parse_interval(interval))
    aggregate = problems.attempt(("query", "agg"), lambda: domain.parse_agg(agg))
    problems.raise_if_any()
    common, size, aggregate = _must(common), _must(size), _must(aggregate)
    database = _db(request)
    async with database.session() as db:
        channel = await _channel(db, common)
        lo, hi = domain.resolve_range(common.start, common.end, channel)
        plan = domain.plan_series(lo, hi, size, common.zone)
        rollup = (
            domain.hourly_rollup_plan(plan, open_end=common.end is None)
            if _settings(request).series_from_aggregates and await database.uses_hourly_rollup(db)
            else None
        )
        if rollup is None:
            rows = await db.series(common.muid, channel.obis, plan)
        else:
            rows = await db.series_from_hourly(common.muid, channel.obis, *rollup)
    (metrics.SERIES_FROM_RAW if rollup is None else metrics.SERIES_FROM_ROLLUP).inc()
    value_at = _AGG_INDEX[aggregate]
    zone = common.zone
    points = [(_shown(r.start, zone), _shown(r.end, zone), r[value_at] if r.n else None, r.n) for r in rows]
    if fmt == "csv":
        return csv_response(["start", "end", "value", "count"], points, "series.csv")
    return json_response(
        {
            "muid": common.muid,
            "obis": channel.obis,
            "unit": None if aggregate == "count" else _channel_meta(channel.obis)[3],
            "interval": size.name,
            "agg": aggregate,
            "tz": zone.key,
            "points": [{"start": p[0], "end": p[1], "value": p[2], "count": p[3]} for p in points],
        }
    )


# --- profile, stats, autocorrelation ------------------------------------------------------------------------


@router.get(
    "/v1/meters/{muid}/profile",
    response_model=ProfileResponse,
    summary="Typical day and week: mean value by hour, by weekday and by weekday and hour",
    description=(
        "Means of the interval values (e.g. kWh per 15 minutes) in [start, end), grouped by the hour of day "
        "and the weekday of each interval start in tz. Weekdays run Monday (index 0) to Sunday. null where no "
        f"reading falls. Longest range: {domain.MAX_ANALYSIS_LABEL}."
    ),
    responses=_responses(),
    tags=["analytics"],
)
async def profile(
    request: Request,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    tz: TzParam = "UTC",
) -> Response:
    common = _meter_params_or_422(muid, obis, start, end, tz)
    async with _db(request).session() as db:
        channel, lo, hi = await _bounded_range(
            db, common, domain.MAX_ANALYSIS_RANGE, domain.MAX_ANALYSIS_LABEL, "profile"
        )
        result = domain.assemble_profile(await db.profile(common.muid, channel.obis, common.zone.key, lo, hi))
    return json_response(
        {
            "muid": common.muid,
            "obis": channel.obis,
            "unit": _channel_meta(channel.obis)[3],
            "tz": common.zone.key,
            "by_hour": result.by_hour,
            "by_weekday": result.by_weekday,
            "weekday_hour": result.weekday_hour,
        }
    )


@router.get(
    "/v1/meters/{muid}/stats",
    response_model=StatsResponse,
    summary="Summary statistics of a range",
    description=(
        "Total, mean, extremes with their interval start, base load (the 10th percentile of the interval "
        "values, continuous), the hour of day (in tz) with the highest mean, and data coverage: expected is the "
        "number of intervals in [start, end) at the channel's interval (inferred from the data: the most "
        "frequent gap between readings, 900 s for 15-minute data). Default range: from the first reading to "
        f"the end of the last interval. Longest range: {domain.MAX_ANALYSIS_LABEL}. Without readings in the "
        "range every value is null and count 0."
    ),
    responses=_responses(),
    tags=["analytics"],
)
async def stats(
    request: Request,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    tz: TzParam = "UTC",
) -> Response:
    common = _meter_params_or_422(muid, obis, start, end, tz)
    async with _db(request).session() as db:
        channel, lo, filter_hi = await _bounded_range(
            db, common, domain.MAX_ANALYSIS_RANGE, domain.MAX_ANALYSIS_LABEL, "stats"
        )
        result = await db.stats(common.muid, channel.obis, common.zone.key, lo, filter_hi, domain.BASE_LOAD_PERCENTILE)
        step = result.step or await db.step(common.muid, channel.obis, lo, channel.first) or DEFAULT_STEP
    hi = common.end if common.end is not None else channel.last + step
    expected = domain.expected_intervals(lo, hi, step)
    zone = common.zone
    return json_response(
        {
            "muid": common.muid,
            "obis": channel.obis,
            "unit": _channel_meta(channel.obis)[3],
            "tz": zone.key,
            "start": _shown(lo, zone),
            "end": _shown(hi, zone),
            "interval_s": int(step.total_seconds()),
            "total": result.total,
            "mean": result.mean,
            "min": {"value": result.min_value, "at": None if result.min_at is None else _shown(result.min_at, zone)},
            "max": {"value": result.max_value, "at": None if result.max_at is None else _shown(result.max_at, zone)},
            "base_load": result.base_load,
            "peak_hour": result.peak_hour,
            "count": result.count,
            "expected": expected,
            "coverage": domain.coverage(result.count, expected),
        }
    )


@router.get(
    "/v1/meters/{muid}/autocorrelation",
    response_model=AutocorrelationResponse,
    summary="Autocorrelation at given lags",
    description=(
        "The readings in [start, end) are placed on a regular grid of the channel's interval (inferred from "
        "the data); missing intervals stay missing (NaN) and drop out of every sum. r(k) = sum of "
        "(x[t]-m)(x[t+k]-m) over the pairs where both are present / sum of (x[t]-m)^2 over present t, m the "
        "mean: the textbook estimator (statsmodels acf with missing='conservative'). null when undefined "
        f"(lag not shorter than the series, constant series). Longest range: {domain.MAX_ACF_LABEL}."
    ),
    responses=_responses(),
    tags=["analytics"],
)
async def autocorrelation(
    request: Request,
    muid: MuidPath,
    obis: ObisParam = None,
    start: StartParam = None,
    end: EndParam = None,
    lags: Annotated[
        str,
        Query(
            description=f"Comma-separated lags in intervals (1..{domain.MAX_LAG}, at most {domain.MAX_LAGS}); "
            "for 15-minute data 96 is one day and 672 one week.",
            examples=["96,672"],
        ),
    ] = "96,672",
    tz: TzParam = "UTC",
) -> Response:
    problems = Problems()
    common = _parse_common(problems, muid, obis, start, end, tz, muid_in="path")
    lag_list = problems.attempt(("query", "lags"), lambda: domain.parse_lags(lags))
    problems.raise_if_any()
    common, lag_list = _must(common), _must(lag_list)
    async with _db(request).session() as db:
        channel, lo, hi = await _bounded_range(
            db, common, domain.MAX_ACF_RANGE, domain.MAX_ACF_LABEL, "autocorrelation"
        )
        timestamps, values = await db.values(common.muid, channel.obis, lo, hi)
        step = await db.step(common.muid, channel.obis, lo, channel.first) or DEFAULT_STEP
    grid = domain.regular_series(timestamps, values, step)
    result = domain.autocorrelation(grid, lag_list)
    return json_response(
        {
            "muid": common.muid,
            "obis": channel.obis,
            "interval_s": int(step.total_seconds()),
            "lags": [{"lag": lag, "value": value} for lag, value in zip(lag_list, result, strict=True)],
        }
    )


# --- the source company's API shape -------------------------------------------------------------------------


@router.get(
    "/meterdata/measurement",
    response_model=SourceRecordsResponse,
    summary="Readings in the source company's own format",
    description=(
        'Drop-in for the energy company\'s endpoint: {"data": [records]} with the records as its files hold '
        "them, newest first: one record per interval start (and quality) carrying the value of each selected "
        "channel under its hex OBIS code. Integral values are written as JSON integers (0, as the source does), "
        "others as the shortest exact decimal. At most limit records; for more, repeat with stop set to the "
        "oldest timestamp received."
    ),
    responses=_responses(),
    tags=["compatibility"],
)
async def source_measurement(
    request: Request,
    muid: Annotated[str, Query(description="Meter id (UUID).", examples=[EXAMPLE_MUID])],
    measurement: Annotated[
        str | None,
        Query(
            description="energy or power (channels decoded as *_energy / *_power); default: every channel.",
            examples=["energy"],
        ),
    ] = None,
    start: Annotated[
        str | None,
        Query(description="First interval start (inclusive), ISO 8601; naive means UTC.", examples=["2023-02-01"]),
    ] = None,
    stop: Annotated[
        str | None,
        Query(description="End (exclusive), ISO 8601; naive means UTC.", examples=["2023-03-01"]),
    ] = None,
    limit: Annotated[
        int, Query(description=f"Records at most, 1..{MAX_LIMIT}.", examples=[3000])
    ] = MEASUREMENT_DEFAULT_LIMIT,
) -> Response:
    problems = Problems()
    common = _parse_common(problems, muid, None, start, stop, "UTC", muid_in="query")
    problems.attempt(("query", "limit"), lambda: domain.parse_limit(limit))
    problems.raise_if_any()
    common = _must(common)
    async with _db(request).session() as db:
        channels = await db.channels(common.muid)
        if not channels:
            raise NotFound(f"unknown meter {common.muid}: no readings stored for it")
        groups: dict[str, list[Channel]] = defaultdict(list)
        for channel in channels:
            groups[domain.measurement_of(channel.obis)].append(channel)
        if measurement is not None:
            if measurement not in groups:
                known = ", ".join(sorted(groups))
                raise NotFound(f"meter {common.muid} has no {measurement!r} channels; its measurements: {known}")
            groups = {measurement: groups[measurement]}
        lo = common.start if common.start is not None else min(c.first for c in channels)
        hi = common.end if common.end is not None else max(c.last for c in channels) + ONE_MICROSECOND
        domain.check_order(lo, hi, common.zone)
        fetched = [
            (name, await db.source_records(common.muid, [c.obis for c in members], lo, hi, limit))
            for name, members in sorted(groups.items())
        ]
    records: list[tuple[datetime, str, dict[str, Any]]] = []
    tags_muid = str(common.muid)
    for name, rows in fetched:
        for ts, quality, codes, values in rows:
            record: dict[str, Any] = {
                "measurement": name,
                "timestamp": domain.source_timestamp(ts),
                "tags": {"muid": tags_muid, "quality": quality},
            }
            for code, value in zip(codes, values, strict=True):
                record[_channel_meta(code)[0]] = domain.source_number(value)
            records.append((ts, name, record))
    if len(fetched) > 1:
        records.sort(key=lambda item: item[1])
        records.sort(key=lambda item: item[0], reverse=True)
    return json_response({"data": [record for _, _, record in records[:limit]]})
