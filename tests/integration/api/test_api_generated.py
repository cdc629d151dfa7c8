"""The query API on generated readings: DST days, gaps, a two-channel meter, every validation rule,
CSV output, pagination, metrics, health and the OpenAPI document."""

from __future__ import annotations

import csv
import io
import math
import uuid
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import numpy as np
import pytest
from integration.api.api_metrics import series_source_counts
from meterflow_api.schemas import ReadingsResponse, SeriesResponse, StatsResponse
from meterflow_schema import refresh_channels

pytestmark = pytest.mark.integration

ZURICH = ZoneInfo("Europe/Zurich")
DST_MUID = "5a1f2b3c-0000-4000-8000-000000000001"  # one import channel, spring and autumn DST weeks, gaps
TWO_MUID = "5a1f2b3c-0000-4000-8000-000000000002"  # import and export channels
UNKNOWN_MUID = "00000000-0000-4000-8000-0000000000ff"
IMPORT = "1-0:1.29.0*255"
EXPORT = "1-0:2.29.0*255"
STEP = timedelta(minutes=15)
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]
Row = tuple[uuid.UUID, str, datetime, float, str]


def local(text: str) -> datetime:
    """A Zurich wall-clock time as an aware UTC instant."""
    return datetime.fromisoformat(text).replace(tzinfo=ZURICH).astimezone(UTC)


def quarter_hours(start: datetime, end: datetime) -> list[datetime]:
    out = []
    cursor = start
    while cursor < end:
        out.append(cursor)
        cursor += STEP
    return out


def value_at(index: int) -> float:
    # Multiples of 0.00025 like the real export file, with a daily rhythm plus a weekly one.
    return round(0.01 + (index % 37) * 0.0025 + (index % 96) * 0.00025, 5)


def dst_rows() -> list[Row]:
    muid = uuid.UUID(DST_MUID)
    instants = quarter_hours(local("2023-03-20T00:00"), local("2023-04-03T00:00")) + quarter_hours(
        local("2023-10-27T00:00"), local("2023-11-01T00:00")
    )
    gap_day = (local("2023-03-29T00:00"), local("2023-03-30T00:00"))
    gap_hour = (local("2023-03-22T10:00"), local("2023-03-22T11:00"))
    rows = []
    for index, ts in enumerate(instants):
        if gap_day[0] <= ts < gap_day[1] or gap_hour[0] <= ts < gap_hour[1]:
            continue
        rows.append((muid, IMPORT, ts, value_at(index), "measured"))
    return rows


def two_channel_rows() -> list[Row]:
    muid = uuid.UUID(TWO_MUID)
    rows: list[Row] = []
    start = datetime(2023, 6, 1, tzinfo=UTC)
    for index, ts in enumerate(quarter_hours(start, start + timedelta(days=7))):
        rows.append((muid, IMPORT, ts, value_at(index), "measured"))
        rows.append((muid, EXPORT, ts, 0.0 if ts.hour < 6 or ts.hour > 18 else value_at(index + 5), "measured"))
    return rows


DST_ROWS = dst_rows()
TWO_ROWS = two_channel_rows()


@pytest.fixture(scope="module")
async def api(database: str, client_factory: ClientFactory, insert_rows: Inserter) -> httpx.AsyncClient:
    await insert_rows(database, DST_ROWS + TWO_ROWS)
    return await client_factory(database)


@pytest.fixture(scope="module")
async def raw_api(database: str, client_factory: ClientFactory, api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same data, served with API_SERIES_FROM_AGGREGATES=false: every series from the raw rows."""
    return await client_factory(database, series_from_aggregates=False)


async def get_json(api: httpx.AsyncClient, url: str, **params: str | int) -> Any:
    response = await api.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def parse_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.tzinfo is not None, text
    return value


def aggregate(values: list[float], agg: str) -> float | None:
    if not values:
        return None
    return {
        "sum": math.fsum(values),
        "avg": math.fsum(values) / len(values),
        "min": min(values),
        "max": max(values),
        "count": float(len(values)),
    }[agg]


# --- series: equal to aggregating the raw rows, in any zone ---------------------------------------------------

RANGES = {
    "15m": ("2023-03-25", "2023-03-28"),
    "1h": ("2023-03-20", "2023-04-03"),
    "1d": ("2023-03-01", "2023-11-15"),
    "1w": ("2023-03-01", "2023-11-15"),
    "1mo": ("2023-01-01", "2024-01-01"),
}


@pytest.mark.parametrize("rollup", [True, False], ids=["rollup-allowed", "raw-only"])
@pytest.mark.parametrize("tz", ["UTC", "Europe/Zurich", "America/New_York", "Asia/Kolkata"])
@pytest.mark.parametrize("interval", list(RANGES))
async def test_series_equals_aggregating_raw_rows(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient, tz: str, interval: str, rollup: bool
) -> None:
    # The hourly rollup serves whole-hour bucket bounds: 1h and longer, in zones with whole-hour offsets.
    expected_source = "hourly_rollup" if rollup and interval != "15m" and tz != "Asia/Kolkata" else "raw"
    before = series_source_counts()
    client = api if rollup else raw_api
    zone = ZoneInfo(tz)
    start_text, end_text = RANGES[interval]
    lo = datetime.fromisoformat(start_text).replace(tzinfo=zone)
    hi = datetime.fromisoformat(end_text).replace(tzinfo=zone)
    raw = sorted((ts, value) for _, _, ts, value, _ in DST_ROWS)
    raw_ts = [ts for ts, _ in raw]
    for agg in ("sum", "avg", "min", "max", "count"):
        body = await get_json(
            client, f"/v1/meters/{DST_MUID}/series", interval=interval, agg=agg, tz=tz, start=start_text, end=end_text
        )
        SeriesResponse.model_validate(body)
        points = body["points"]
        assert points, "a range always has buckets"
        starts = [parse_ts(p["start"]) for p in points]
        ends = [parse_ts(p["end"]) for p in points]
        # Buckets tile the range: contiguous, the first holds start and the last holds end.
        assert all(ends[i] == starts[i + 1] for i in range(len(points) - 1))
        assert starts[0] <= lo < ends[0]
        assert starts[-1] < hi <= ends[-1]
        for begin, finish in zip(starts, ends, strict=True):
            # Shown in the requested zone, on its wall-clock grid.
            assert begin.utcoffset() == begin.astimezone(zone).utcoffset()
            wall = begin.astimezone(zone)
            if interval == "15m":
                assert finish - begin == STEP and wall.minute % 15 == 0
            elif interval == "1h":
                assert finish - begin == timedelta(hours=1) and wall.minute == 0
            else:
                assert (wall.hour, wall.minute) == (0, 0)
                assert finish.astimezone(zone).hour == 0
                if interval == "1w":
                    assert wall.weekday() == 0
                if interval == "1mo":
                    assert wall.day == 1
        for point, begin, finish in zip(points, starts, ends, strict=True):
            first, stop = bisect_left(raw_ts, max(begin, lo)), bisect_left(raw_ts, min(finish, hi))
            inside = [v for _, v in raw[first:stop]]
            assert point["count"] == len(inside)
            expected = aggregate(inside, agg)
            if expected is None:
                assert point["value"] is None
            else:
                assert point["value"] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    after = series_source_counts()
    assert after[expected_source] - before[expected_source] == 5


async def test_spring_dst_day_has_23_hours(api: httpx.AsyncClient) -> None:
    days = await get_json(
        api, f"/v1/meters/{DST_MUID}/series", interval="1d", tz="Europe/Zurich", start="2023-03-25", end="2023-03-28"
    )
    assert [(p["start"], p["end"], p["count"]) for p in days["points"]] == [
        ("2023-03-25T00:00:00+01:00", "2023-03-26T00:00:00+01:00", 96),
        ("2023-03-26T00:00:00+01:00", "2023-03-27T00:00:00+02:00", 92),
        ("2023-03-27T00:00:00+02:00", "2023-03-28T00:00:00+02:00", 96),
    ]
    hours = await get_json(
        api, f"/v1/meters/{DST_MUID}/series", interval="1h", tz="Europe/Zurich", start="2023-03-26", end="2023-03-27"
    )
    points = hours["points"]
    assert len(points) == 23
    assert all(p["count"] == 4 for p in points)
    assert [p["start"][11:] for p in points[1:3]] == ["01:00:00+01:00", "03:00:00+02:00"]
    assert math.fsum(p["value"] for p in points) == pytest.approx(days["points"][1]["value"], abs=1e-9)


async def test_autumn_dst_day_has_25_hours(api: httpx.AsyncClient) -> None:
    hours = await get_json(
        api, f"/v1/meters/{DST_MUID}/series", interval="1h", tz="Europe/Zurich", start="2023-10-29", end="2023-10-30"
    )
    starts = [p["start"] for p in hours["points"]]
    assert len(starts) == 25
    assert "2023-10-29T02:00:00+02:00" in starts and "2023-10-29T02:00:00+01:00" in starts
    day = await get_json(
        api, f"/v1/meters/{DST_MUID}/series", interval="1d", tz="Europe/Zurich", start="2023-10-29", end="2023-10-30"
    )
    assert day["points"] == [
        {
            "start": "2023-10-29T00:00:00+02:00",
            "end": "2023-10-30T00:00:00+01:00",
            "value": pytest.approx(sum(p["value"] for p in hours["points"]), abs=1e-9),
            "count": 100,
        }
    ]


async def test_month_and_week_buckets_follow_the_calendar(api: httpx.AsyncClient) -> None:
    months = await get_json(
        api, f"/v1/meters/{DST_MUID}/series", interval="1mo", tz="Europe/Zurich", start="2023-03-01", end="2023-05-01"
    )
    assert [(p["start"], p["end"]) for p in months["points"]] == [
        ("2023-03-01T00:00:00+01:00", "2023-04-01T00:00:00+02:00"),
        ("2023-04-01T00:00:00+02:00", "2023-05-01T00:00:00+02:00"),
    ]
    weeks = await get_json(
        api, f"/v1/meters/{DST_MUID}/series", interval="1w", tz="Europe/Zurich", start="2023-03-20", end="2023-04-03"
    )
    assert [(p["start"], p["end"]) for p in weeks["points"]] == [
        ("2023-03-20T00:00:00+01:00", "2023-03-27T00:00:00+02:00"),
        ("2023-03-27T00:00:00+02:00", "2023-04-03T00:00:00+02:00"),
    ]
    # 7 days x 96 quarter hours, minus the 4 of the missing DST hour and the 4 of the 10:00 gap.
    assert weeks["points"][0]["count"] == 7 * 96 - 4 - 4


async def test_gaps_are_reported_not_invented(api: httpx.AsyncClient) -> None:
    for agg in ("sum", "avg", "min", "max", "count"):
        body = await get_json(
            api,
            f"/v1/meters/{DST_MUID}/series",
            interval="1d",
            agg=agg,
            tz="Europe/Zurich",
            start="2023-03-28",
            end="2023-03-31",
        )
        assert [(p["start"][:10], p["count"], p["value"] is None) for p in body["points"]] == [
            ("2023-03-28", 96, False),
            ("2023-03-29", 0, True),
            ("2023-03-30", 96, False),
        ]
    hours = await get_json(
        api,
        f"/v1/meters/{DST_MUID}/series",
        interval="1h",
        tz="Europe/Zurich",
        start="2023-03-22T09:00",
        end="2023-03-22T12:00",
    )
    assert [(p["count"], p["value"] is None) for p in hours["points"]] == [(4, False), (0, True), (4, False)]


async def test_series_defaults_to_the_channel_data_and_unaligned_bounds_clip(api: httpx.AsyncClient) -> None:
    body = await get_json(api, f"/v1/meters/{TWO_MUID}/series", obis="0100011D00FF", tz="UTC")
    assert body["interval"] == "1d" and body["agg"] == "sum"
    assert len(body["points"]) == 7
    assert sum(p["count"] for p in body["points"]) == 7 * 96
    clipped = await get_json(
        api,
        f"/v1/meters/{TWO_MUID}/series",
        obis=IMPORT,
        interval="1d",
        start="2023-06-01T12:00:00Z",
        end="2023-06-02T06:00:00Z",
    )
    # Whole buckets are listed; only readings inside [start, end) are aggregated.
    assert [(p["start"], p["count"]) for p in clipped["points"]] == [
        ("2023-06-01T00:00:00+00:00", 48),
        ("2023-06-02T00:00:00+00:00", 24),
    ]


async def test_default_range_series_come_from_the_rollup_and_equal_the_raw_rows(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient
) -> None:
    # No start/end: the range ends just after the last reading; rounded up to its hour, it still fits the rollup.
    before = series_source_counts()
    for tz in ("UTC", "Europe/Zurich"):
        for interval in ("1h", "1d", "1w"):
            params = {"obis": IMPORT, "tz": tz, "interval": interval, "agg": "sum"}
            from_rollup = await get_json(api, f"/v1/meters/{TWO_MUID}/series", **params)
            from_raw = await get_json(raw_api, f"/v1/meters/{TWO_MUID}/series", **params)
            assert [(p["start"], p["end"], p["count"]) for p in from_rollup["points"]] == [
                (p["start"], p["end"], p["count"]) for p in from_raw["points"]
            ]
            for mine, theirs in zip(from_rollup["points"], from_raw["points"], strict=True):
                assert mine["value"] == pytest.approx(theirs["value"], rel=1e-12, abs=1e-12)
    after = series_source_counts()
    assert after["hourly_rollup"] - before["hourly_rollup"] == 6
    assert after["raw"] - before["raw"] == 6


async def test_corrections_show_at_once_in_rollup_series(
    client_factory: ClientFactory, database: str, insert_rows: Inserter
) -> None:
    """The rollup is kept in the readings' transaction: a corrected, a deleted and a late reading count at once.
    The rows change here by SQL, around the writer: no ETag sees that, so the response cache is off."""
    api = await client_factory(database, response_cache_mb=0)
    muid = uuid.uuid4()
    start = datetime(2023, 7, 3, tzinfo=UTC)
    await insert_rows(database, [(muid, IMPORT, start + i * STEP, 1.0, "measured") for i in range(96)])
    conn = await asyncpg.connect(database)
    try:
        params = {"interval": "1d", "tz": "UTC", "start": "2023-07-03", "end": "2023-07-04"}
        day = (await get_json(api, f"/v1/meters/{muid}/series", agg="sum", **params))["points"]
        assert [(p["value"], p["count"]) for p in day] == [(96.0, 96)]
        await conn.execute("UPDATE readings SET value = 5.0 WHERE muid = $1 AND ts = $2", muid, start)
        await conn.execute("DELETE FROM readings WHERE muid = $1 AND ts = $2", muid, start + 95 * STEP)
        day = (await get_json(api, f"/v1/meters/{muid}/series", agg="sum", **params))["points"]
        assert [(p["value"], p["count"]) for p in day] == [(99.0, 95)]
        highest = (await get_json(api, f"/v1/meters/{muid}/series", agg="max", **params))["points"]
        last_hour = await get_json(
            api, f"/v1/meters/{muid}/series", agg="min", interval="1h", start="2023-07-03T23:00Z", end="2023-07-04"
        )
        assert highest[0]["value"] == 5.0 and last_hour["points"][0]["count"] == 3
    finally:
        # The module's other tests know only their own meters.
        await conn.execute("DELETE FROM readings WHERE muid = $1", muid)
        await refresh_channels(conn, [(muid, IMPORT)])
        await conn.close()


async def test_naive_start_is_read_in_tz_and_offsets_are_honoured(api: httpx.AsyncClient) -> None:
    naive = await get_json(
        api,
        f"/v1/meters/{DST_MUID}/readings",
        tz="Europe/Zurich",
        start="2023-03-21T06:00",
        end="2023-03-21T07:00",
    )
    explicit = await get_json(
        api,
        f"/v1/meters/{DST_MUID}/readings",
        tz="Europe/Zurich",
        start="2023-03-21T05:00:00Z",
        end="2023-03-21T07:00:00+01:00",
    )
    assert naive == explicit
    assert [r["ts"] for r in naive["readings"]][:2] == ["2023-03-21T06:00:00+01:00", "2023-03-21T06:15:00+01:00"]
    # An unencoded '+' arrives as a space: accepted as the offset it was meant to be.
    spaced = await api.get(
        f"/v1/meters/{DST_MUID}/readings?tz=Europe/Zurich&start=2023-03-21T06:00:00+01:00&end=2023-03-21T07:00:00+01:00"
    )
    assert spaced.status_code == 200 and spaced.json() == naive


# --- two channels -------------------------------------------------------------------------------------------


async def test_obis_is_required_when_a_meter_has_two_channels(api: httpx.AsyncClient) -> None:
    # Series answer every channel then (test_series_of_several_channels); the other per-channel routes refuse.
    response = await api.get(f"/v1/meters/{TWO_MUID}/stats")
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["query", "obis"]
    assert "obis is required" in problem["msg"]
    assert "0100011D00FF" in problem["msg"] and "0100021D00FF" in problem["msg"]


@pytest.mark.parametrize(
    ("obis", "channel"),
    [
        ("0100011D00FF", IMPORT),
        ("0100011d00ff", IMPORT),
        ("1-0:1.29.0*255", IMPORT),
        ("1.29.0", IMPORT),
        ("0100021D00FF", EXPORT),
        ("1-0:2.29.0*255", EXPORT),
        ("2.29.0", EXPORT),
    ],
)
async def test_each_channel_works_in_every_notation(api: httpx.AsyncClient, obis: str, channel: str) -> None:
    expected = math.fsum(row[3] for row in TWO_ROWS if row[1] == channel)
    stats = await get_json(api, f"/v1/meters/{TWO_MUID}/stats", obis=obis)
    assert stats["obis"] == channel
    assert stats["total"] == pytest.approx(expected, abs=1e-9)
    assert stats["count"] == stats["expected"] == 7 * 96
    series = await get_json(api, f"/v1/meters/{TWO_MUID}/series", obis=obis, interval="1w", tz="UTC")
    assert math.fsum(p["value"] for p in series["points"]) == pytest.approx(expected, abs=1e-9)
    readings = await get_json(api, f"/v1/meters/{TWO_MUID}/readings", obis=obis, limit=5)
    assert readings["obis"] == channel and len(readings["readings"]) == 5


async def test_source_api_carries_both_channels_per_record(api: httpx.AsyncClient) -> None:
    body = await get_json(api, "/meterdata/measurement", muid=TWO_MUID, measurement="energy", limit=3)
    first = body["data"][0]
    assert list(first) == ["measurement", "timestamp", "tags", "0100011D00FF", "0100021D00FF"]
    assert first["timestamp"] == "2023-06-07T23:45:00.000Z"
    assert first["0100021D00FF"] == 0 and isinstance(first["0100021D00FF"], int)
    assert len(body["data"]) == 3


async def test_meters_lists_channels(api: httpx.AsyncClient) -> None:
    body = await get_json(api, "/v1/meters")
    meters = {m["muid"]: [c["obis"] for c in m["channels"]] for m in body["meters"]}
    assert meters == {DST_MUID: [IMPORT], TWO_MUID: [IMPORT, EXPORT]}
    table = list(csv.DictReader(io.StringIO((await api.get("/v1/meters", params={"format": "csv"})).text)))
    assert [(r["muid"], r["obis"], r["hex"], r["direction"], r["count"]) for r in table] == [
        (DST_MUID, IMPORT, "0100011D00FF", "import", str(len(DST_ROWS))),
        (TWO_MUID, IMPORT, "0100011D00FF", "import", str(7 * 96)),
        (TWO_MUID, EXPORT, "0100021D00FF", "export", str(7 * 96)),
    ]


# --- stats, profile, autocorrelation with gaps --------------------------------------------------------------


async def test_stats_coverage_counts_the_gaps(api: httpx.AsyncClient) -> None:
    body = await get_json(api, f"/v1/meters/{DST_MUID}/stats", tz="Europe/Zurich", start="2023-03-20", end="2023-04-03")
    StatsResponse.model_validate(body)
    expected = 14 * 96 - 4  # the spring DST day has 92 quarter hours
    count = expected - 96 - 4  # the missing day and the missing hour
    assert (body["expected"], body["count"]) == (expected, count)
    assert body["coverage"] == pytest.approx(count / expected)
    assert body["start"] == "2023-03-20T00:00:00+01:00" and body["end"] == "2023-04-03T00:00:00+02:00"
    inside = [r for r in DST_ROWS if local("2023-03-20T00:00") <= r[2] < local("2023-04-03T00:00")]
    top = max(inside, key=lambda r: (r[3], -r[2].timestamp()))
    assert body["max"] == {"value": top[3], "at": top[2].astimezone(ZURICH).isoformat()}


async def test_stats_without_readings_in_range(api: httpx.AsyncClient) -> None:
    body = await get_json(api, f"/v1/meters/{DST_MUID}/stats", start="2023-06-01", end="2023-06-02")
    assert body["count"] == 0 and body["expected"] == 96 and body["coverage"] == 0
    assert body["total"] is None and body["min"] == {"value": None, "at": None} and body["peak_hour"] is None


async def test_profile_in_zurich_uses_local_hours(api: httpx.AsyncClient) -> None:
    body = await get_json(
        api, f"/v1/meters/{DST_MUID}/profile", tz="Europe/Zurich", start="2023-03-20", end="2023-04-03"
    )
    cells: dict[tuple[int, int], list[float]] = {}
    for _, _, ts, value, _ in DST_ROWS:
        wall = ts.astimezone(ZURICH)
        if datetime(2023, 3, 20, tzinfo=ZURICH) <= wall < datetime(2023, 4, 3, tzinfo=ZURICH):
            cells.setdefault((wall.weekday(), wall.hour), []).append(value)
    for weekday in range(7):
        for hour in range(24):
            values = cells.get((weekday, hour))
            got = body["weekday_hour"][weekday][hour]
            assert got == (None if values is None else pytest.approx(sum(values) / len(values), abs=1e-12))


async def test_autocorrelation_leaves_gaps_out(api: httpx.AsyncClient) -> None:
    lo, hi = local("2023-03-20T00:00"), local("2023-04-03T00:00")
    inside = [(ts, v) for _, _, ts, v, _ in DST_ROWS if lo <= ts < hi]
    grid = np.full(int((inside[-1][0] - inside[0][0]) / STEP) + 1, np.nan)
    for ts, v in inside:
        grid[int((ts - inside[0][0]) / STEP)] = v
    present = ~np.isnan(grid)
    centred = np.where(present, grid - np.nanmean(grid), 0.0)
    expected = [float(np.dot(centred[:-k], centred[k:]) / np.dot(centred, centred)) for k in (1, 96, 672)]
    body = await get_json(
        api,
        f"/v1/meters/{DST_MUID}/autocorrelation",
        lags="1,96,672,5000",
        tz="Europe/Zurich",
        start="2023-03-20",
        end="2023-04-03",
    )
    values = [entry["value"] for entry in body["lags"]]
    assert values[:3] == pytest.approx(expected, abs=1e-9)
    assert values[3] is None  # longer than the series


# --- pagination and CSV -------------------------------------------------------------------------------------


async def test_pagination_returns_every_reading_exactly_once(api: httpx.AsyncClient) -> None:
    seen: list[tuple[str, float]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 97}
        if cursor is not None:
            params["cursor"] = cursor
        body = await get_json(api, f"/v1/meters/{DST_MUID}/readings", **params)
        ReadingsResponse.model_validate(body)
        pages += 1
        seen.extend((r["ts"], r["value"]) for r in body["readings"])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(body["readings"]) == 97
    expected = [(ts.isoformat(), value) for _, _, ts, value, _ in sorted(DST_ROWS, key=lambda r: r[2])]
    assert seen == expected
    assert pages == math.ceil(len(DST_ROWS) / 97)


async def test_pagination_within_a_range_and_in_csv(api: httpx.AsyncClient) -> None:
    url = f"/v1/meters/{DST_MUID}/readings"
    params = {"start": "2023-03-21", "end": "2023-03-22", "tz": "Europe/Zurich", "limit": 50, "format": "csv"}
    first = await api.get(url, params=params)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(first.text)))
    assert len(rows) == 50
    second = await api.get(url, params={**params, "cursor": first.headers["x-next-cursor"]})
    rows += list(csv.DictReader(io.StringIO(second.text)))
    assert "x-next-cursor" not in second.headers
    as_json = await get_json(api, url, start="2023-03-21", end="2023-03-22", tz="Europe/Zurich", limit=1000)
    assert [(r["ts"], float(r["value"]), r["quality"]) for r in rows] == [
        (r["ts"], r["value"], r["quality"]) for r in as_json["readings"]
    ]
    assert len(rows) == 96


async def test_series_csv_matches_json(api: httpx.AsyncClient) -> None:
    params = {"interval": "1d", "tz": "Europe/Zurich", "start": "2023-03-25", "end": "2023-03-31"}
    body = await get_json(api, f"/v1/meters/{DST_MUID}/series", **params)
    response = await api.get(f"/v1/meters/{DST_MUID}/series", params={**params, "format": "csv"})
    assert response.text.splitlines()[0] == "start,end,value,count"
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [
        (r["start"], r["end"], None if r["value"] == "" else float(r["value"]), int(r["count"])) for r in table
    ] == [(p["start"], p["end"], p["value"], p["count"]) for p in body["points"]]


# --- validation and not found -------------------------------------------------------------------------------

SERIES = f"/v1/meters/{DST_MUID}/series"
READINGS = f"/v1/meters/{DST_MUID}/readings"


@pytest.mark.parametrize(
    ("url", "params", "loc", "fragment"),
    [
        ("/v1/meters/not-a-uuid/series", {}, ["path", "muid"], "expected a UUID"),
        (SERIES, {"start": "2023-03-02", "end": "2023-03-01"}, ["query", "start"], "must be before end"),
        (SERIES, {"start": "2023-03-01", "end": "2023-03-01"}, ["query", "start"], "must be before end"),
        (SERIES, {"interval": "2h"}, ["query", "interval"], "use one of 15m, 1h, 1d, 1w, 1mo"),
        (SERIES, {"agg": "median"}, ["query", "agg"], "use one of sum, avg, min, max, count"),
        (SERIES, {"tz": "Mars/Olympus_Mons"}, ["query", "tz"], "unknown time zone"),
        (SERIES, {"tz": "europe/zurich"}, ["query", "tz"], "did you mean Europe/Zurich"),
        (SERIES, {"tz": "UTC+3"}, ["query", "tz"], "IANA name"),
        (
            SERIES,
            {"interval": "15m", "start": "2023-01-01", "end": "2023-03-01"},
            ["query", "end"],
            "at most 31 days",
        ),
        (SERIES, {"interval": "15m"}, ["query", "end"], "at most 31 days"),  # the data spans March to October
        (SERIES, {"interval": "1h", "start": "2022-01-01", "end": "2023-03-01"}, ["query", "end"], "366 days"),
        (SERIES, {"interval": "1d", "start": "2000-01-01", "end": "2023-03-01"}, ["query", "end"], "10 years"),
        (SERIES, {"obis": "XYZ"}, ["query", "obis"], "12 hex digits"),
        (SERIES, {"obis": "1-0:1.29.0*256"}, ["query", "obis"], "out of range"),
        (SERIES, {"start": "yesterday"}, ["query", "start"], "ISO 8601"),
        (READINGS, {"limit": 10001}, ["query", "limit"], "between 1 and 10000"),
        (READINGS, {"limit": 0}, ["query", "limit"], "between 1 and 10000"),
        (READINGS, {"cursor": "not-a-cursor!"}, ["query", "cursor"], "next_cursor"),
        (f"/v1/meters/{DST_MUID}/autocorrelation", {"lags": "0"}, ["query", "lags"], "between 1 and"),
        (f"/v1/meters/{DST_MUID}/autocorrelation", {"lags": "a,b"}, ["query", "lags"], "whole number"),
        (
            f"/v1/meters/{DST_MUID}/autocorrelation",
            {"start": "2022-01-01", "end": "2023-06-01"},
            ["query", "end"],
            "366 days",
        ),
        (f"/v1/meters/{DST_MUID}/stats", {"start": "2000-01-01", "end": "2023-03-01"}, ["query", "end"], "10 years"),
        (f"/v1/meters/{DST_MUID}/profile", {"tz": "Nowhere/Else"}, ["query", "tz"], "unknown time zone"),
        ("/meterdata/measurement", {"muid": "42"}, ["query", "muid"], "expected a UUID"),
        ("/meterdata/measurement", {"muid": DST_MUID, "limit": 20000}, ["query", "limit"], "between 1 and 10000"),
        (SERIES, {"format": "xml"}, ["query", "format"], "json"),
    ],
)
async def test_invalid_parameters_get_422_saying_what_to_fix(
    api: httpx.AsyncClient, url: str, params: dict[str, str | int], loc: list[str], fragment: str
) -> None:
    response = await api.get(url, params=params)
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert any(p["loc"] == loc and fragment in p["msg"] for p in problems), problems


async def test_type_errors_have_the_same_shape(api: httpx.AsyncClient) -> None:
    response = await api.get(READINGS, params={"limit": "many", "format": "xml"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert [p["loc"] for p in detail] == [["query", "limit"], ["query", "format"]]
    assert all(set(p) == {"loc", "msg", "type"} for p in detail)


async def test_every_invalid_parameter_is_reported_at_once(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/v1/meters/xyz/series", params={"interval": "2d", "agg": "median", "tz": "Mars/X", "start": "soon"}
    )
    assert response.status_code == 422
    assert [p["loc"][1] for p in response.json()["detail"]] == ["muid", "tz", "start", "interval", "agg"]


@pytest.mark.parametrize("endpoint", ["readings", "series", "profile", "stats", "autocorrelation"])
async def test_unknown_meter_and_channel_get_404(api: httpx.AsyncClient, endpoint: str) -> None:
    response = await api.get(f"/v1/meters/{UNKNOWN_MUID}/{endpoint}")
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"unknown meter {UNKNOWN_MUID}: no readings stored for it (GET /v1/meters lists the meters)"
    }
    response = await api.get(f"/v1/meters/{DST_MUID}/{endpoint}", params={"obis": "2.29.0"})
    assert response.status_code == 404
    assert "has no channel 1-0:2.29.0*255" in response.json()["detail"]
    assert "its channels: 1-0:1.29.0*255 (0100011D00FF)" in response.json()["detail"]


async def test_source_api_unknown_meter_or_measurement_get_404(api: httpx.AsyncClient) -> None:
    assert (await api.get("/meterdata/measurement", params={"muid": UNKNOWN_MUID})).status_code == 404
    response = await api.get("/meterdata/measurement", params={"muid": DST_MUID, "measurement": "power"})
    assert response.status_code == 404 and "its measurements: energy" in response.json()["detail"]


# --- operations ---------------------------------------------------------------------------------------------


async def test_health_readiness_and_metrics(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    await api.get(SERIES, params={"tz": "UTC", "start": "2023-03-20", "end": "2023-03-21"})
    await api.get(f"/v1/meters/{UNKNOWN_MUID}/series")
    text = (await api.get("/metrics")).text
    assert 'meterflow_api_requests_total{method="GET",route="/v1/meters/{muid}/series",status="200"}' in text
    assert 'meterflow_api_requests_total{method="GET",route="/v1/meters/{muid}/series",status="404"}' in text
    assert 'meterflow_api_request_duration_seconds_bucket{le="0.05",route="/v1/meters/{muid}/series"}' in text
    assert DST_MUID not in text and UNKNOWN_MUID not in text  # route templates, never raw paths
    await api.get("/no/such/path")
    assert 'route="unmatched",status="404"' in (await api.get("/metrics")).text


async def test_database_down_means_not_ready_and_503(client_factory: ClientFactory) -> None:
    down = await client_factory("postgresql://meterflow:meterflow@127.0.0.1:1/nothing", pool_acquire_timeout_s=1)
    assert (await down.get("/healthz")).status_code == 200
    ready = await down.get("/readyz")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    response = await down.get(SERIES)
    assert response.status_code == 503
    assert response.json() == {"detail": "the database is unavailable; retry shortly"}
    assert response.headers["retry-after"] == "1"


async def test_openapi_documents_every_parameter_and_response(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert (await api.get("/docs")).status_code == 200
    schemas = spec["components"]["schemas"]
    documented = {name for name, schema in schemas.items() if schema.get("examples")}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (path, method)
            for parameter in operation.get("parameters", []):
                where = (path, parameter["name"])
                assert parameter.get("description"), where
                assert parameter.get("examples") or parameter["schema"].get("examples"), where
            if path.startswith(("/v1/", "/meterdata/")):
                assert {"200", "422", "503"} <= set(operation["responses"]), path
            ok = operation["responses"]["200"]["content"]
            if "application/json" in ok:
                ref = ok["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                assert ref in documented, (path, ref)
    for name, schema in spec["components"]["schemas"].items():
        if name in ("HTTPValidationError", "ValidationError"):
            continue  # FastAPI's own, for its type checks (e.g. limit=abc)
        for prop_name, prop in schema.get("properties", {}).items():
            assert prop.get("description"), (name, prop_name)
            assert prop.get("examples"), (name, prop_name)
