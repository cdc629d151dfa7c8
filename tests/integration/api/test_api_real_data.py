"""The facts of the Exnaton February 2023 files (their README), asserted through the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from meterflow_api.schemas import (
    AutocorrelationResponse,
    MetersResponse,
    ProfileResponse,
    ReadingsResponse,
    SeriesResponse,
    StatsResponse,
)

pytestmark = pytest.mark.integration
TOL = 1e-6
IMPORT_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
EXPORT_MUID = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
ZURICH = ZoneInfo("Europe/Zurich")
RowsOf = Callable[[str], list[Any]]
FileOf = Callable[[str], Path]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]


@pytest.fixture(scope="module")
def api(real_api: httpx.AsyncClient) -> httpx.AsyncClient:
    return real_api


async def get_json(api: httpx.AsyncClient, url: str, **params: str | int) -> Any:
    response = await api.get(url, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_meters_lists_both_meters_with_their_channel(api: httpx.AsyncClient) -> None:
    body = await get_json(api, "/v1/meters")
    MetersResponse.model_validate(body)
    by_muid = {meter["muid"]: meter["channels"] for meter in body["meters"]}
    assert by_muid[IMPORT_MUID] == [
        {
            "obis": "1-0:1.29.0*255",
            "hex": "0100011D00FF",
            "quantity": "active_energy",
            "direction": "import",
            "unit": "kWh",
            "first": "2023-02-01T00:00:00+00:00",
            "last": "2023-02-28T23:45:00+00:00",
            "count": 2688,
        }
    ]
    assert by_muid[EXPORT_MUID][0]["hex"] == "0100021D00FF"
    assert by_muid[EXPORT_MUID][0]["direction"] == "export"


@pytest.mark.parametrize(
    ("muid", "total", "max_value", "max_at", "min_value"),
    [
        (IMPORT_MUID, 97.6082, 0.9612, "2023-02-20T15:00:00Z", 0.0114),
        (EXPORT_MUID, 36.19725, 0.17325, "2023-02-21T12:00:00Z", 0.0),
    ],
)
async def test_stats_of_february(
    api: httpx.AsyncClient, muid: str, total: float, max_value: float, max_at: str, min_value: float
) -> None:
    body = await get_json(api, f"/v1/meters/{muid}/stats", start="2023-02-01", end="2023-03-01")
    StatsResponse.model_validate(body)
    assert body["total"] == pytest.approx(total, abs=TOL)
    assert body["max"]["value"] == pytest.approx(max_value, abs=TOL)
    assert utc(body["max"]["at"]) == utc(max_at)
    assert body["min"]["value"] == pytest.approx(min_value, abs=TOL)
    assert body["count"] == body["expected"] == 2688
    assert body["coverage"] == 1.0
    assert body["interval_s"] == 900
    assert body["mean"] == pytest.approx(total / 2688, abs=TOL)
    # Omitting the range means the channel's whole data: the same month here.
    assert (await get_json(api, f"/v1/meters/{muid}/stats"))["total"] == pytest.approx(total, abs=TOL)


async def test_stats_base_load_and_peak_hour_follow_their_definitions(
    api: httpx.AsyncClient, source_rows: RowsOf
) -> None:
    rows = source_rows(IMPORT_MUID)
    values = sorted(row[3] for row in rows)
    # Continuous 10th percentile (PostgreSQL percentile_cont, numpy's default "linear").
    position = 0.1 * (len(values) - 1)
    below = int(position)
    expected_base = values[below] + (values[below + 1] - values[below]) * (position - below)
    hourly: dict[int, list[float]] = {}
    for _, _, ts, value, _ in rows:
        hourly.setdefault(ts.astimezone(UTC).hour, []).append(value)
    means = {hour: sum(v) / len(v) for hour, v in hourly.items()}
    body = await get_json(api, f"/v1/meters/{IMPORT_MUID}/stats")
    assert body["base_load"] == pytest.approx(expected_base, abs=1e-12)
    assert body["peak_hour"] == max(means, key=lambda hour: means[hour])


@pytest.mark.parametrize(
    ("muid", "first_day", "largest_day", "largest_total"),
    [
        (IMPORT_MUID, 1.8766, "2023-02-08", 5.2117),
        (EXPORT_MUID, 2.07875, "2023-02-21", 4.36925),
    ],
)
async def test_daily_series_in_utc(
    api: httpx.AsyncClient, muid: str, first_day: float, largest_day: str, largest_total: float
) -> None:
    body = await get_json(
        api, f"/v1/meters/{muid}/series", interval="1d", agg="sum", tz="UTC", start="2023-02-01", end="2023-03-01"
    )
    SeriesResponse.model_validate(body)
    points = body["points"]
    assert len(points) == 28
    assert all(point["count"] == 96 for point in points)
    assert points[0]["start"] == "2023-02-01T00:00:00+00:00"
    assert points[0]["end"] == "2023-02-02T00:00:00+00:00"
    assert points[0]["value"] == pytest.approx(first_day, abs=TOL)
    largest = max(points, key=lambda point: point["value"])
    assert largest["start"].startswith(largest_day)
    assert largest["value"] == pytest.approx(largest_total, abs=TOL)
    assert sum(point["value"] for point in points) == pytest.approx(
        97.6082 if muid == IMPORT_MUID else 36.19725, abs=TOL
    )


@pytest.mark.parametrize(
    ("muid", "weeks"),
    [
        (IMPORT_MUID, [18.1130, 25.4365, 21.6811, 25.1537, 7.2239]),
        (EXPORT_MUID, [5.29875, 7.81275, 9.74075, 7.92250, 5.42250]),
    ],
)
async def test_iso_week_sums_in_utc(api: httpx.AsyncClient, muid: str, weeks: list[float]) -> None:
    body = await get_json(
        api, f"/v1/meters/{muid}/series", interval="1w", tz="UTC", start="2023-02-01", end="2023-03-01"
    )
    points = body["points"]
    assert [utc(p["start"]).isocalendar().week for p in points] == [5, 6, 7, 8, 9]
    assert all(utc(p["start"]).weekday() == 0 and utc(p["start"]).time() == time() for p in points)
    assert [p["value"] for p in points] == pytest.approx(weeks, abs=TOL)
    # The first and last ISO weeks are only partly in February: their counts say so.
    assert [p["count"] for p in points] == [5 * 96, 672, 672, 672, 2 * 96]


async def test_export_is_zero_outside_daylight(api: httpx.AsyncClient) -> None:
    body = await get_json(api, f"/v1/meters/{EXPORT_MUID}/profile", tz="UTC")
    ProfileResponse.model_validate(body)
    by_hour = body["by_hour"]
    # Non-zero only between 06:15 and 16:45 UTC: hours 0-5 and 17-23 average exactly zero.
    assert all(by_hour[hour] == 0 for hour in [*range(6), *range(17, 24)])
    assert all(by_hour[hour] > 0 for hour in range(7, 16))
    assert all(row[hour] == 0 for row in body["weekday_hour"] for hour in [*range(6), *range(17, 24)])
    # At 15-minute resolution: zero before 06:15 and after 16:45, through the raw readings.
    readings = (await get_json(api, f"/v1/meters/{EXPORT_MUID}/readings", limit=3000))["readings"]
    assert len(readings) == 2688
    for reading in readings:
        moment = utc(reading["ts"]).time()
        if not time(6, 15) <= moment <= time(16, 45):
            assert reading["value"] == 0, reading


async def test_profile_means_match_raw_rows(api: httpx.AsyncClient, source_rows: RowsOf) -> None:
    rows = source_rows(IMPORT_MUID)
    body = await get_json(api, f"/v1/meters/{IMPORT_MUID}/profile", tz="Europe/Zurich")
    cells: dict[tuple[int, int], list[float]] = {}
    for _, _, ts, value, _ in rows:
        local = ts.astimezone(ZURICH)
        cells.setdefault((local.weekday(), local.hour), []).append(value)
    for (weekday, hour), values in cells.items():
        assert body["weekday_hour"][weekday][hour] == pytest.approx(sum(values) / len(values), abs=1e-12)
    weekday_values = [[v for (d, _), vs in cells.items() if d == day for v in vs] for day in range(7)]
    assert body["by_weekday"] == pytest.approx([sum(v) / len(v) for v in weekday_values], abs=1e-12)
    assert len(body["by_hour"]) == 24 and len(body["weekday_hour"]) == 7


async def test_source_api_returns_the_source_records(api: httpx.AsyncClient, source_file: FileOf) -> None:
    for muid in (IMPORT_MUID, EXPORT_MUID):
        raw = source_file(muid).read_bytes()
        response = await api.get(
            "/meterdata/measurement",
            params={"muid": muid, "measurement": "energy", "start": "2023-02-01", "stop": "2023-03-01", "limit": 3000},
        )
        assert response.status_code == 200, response.text
        assert response.json() == json.loads(raw)
        # Same key order, integers where the source has integers, same float text: byte for byte.
        assert response.content == raw


async def test_source_api_limit_keeps_the_newest(api: httpx.AsyncClient, source_file: FileOf) -> None:
    body = await get_json(api, "/meterdata/measurement", muid=IMPORT_MUID, limit=2)
    assert [record["timestamp"] for record in body["data"]] == ["2023-02-28T23:45:00.000Z", "2023-02-28T23:30:00.000Z"]
    assert body["data"][0] == json.loads(source_file(IMPORT_MUID).read_bytes())["data"][0]


async def test_autocorrelation_matches_the_textbook_estimator(api: httpx.AsyncClient, source_rows: RowsOf) -> None:
    import numpy as np

    rows = sorted(source_rows(IMPORT_MUID), key=lambda row: row[2])
    x = np.array([row[3] for row in rows])
    centred = x - x.mean()
    expected = {lag: float(np.dot(centred[:-lag], centred[lag:]) / np.dot(centred, centred)) for lag in (1, 96, 672)}
    body = await get_json(api, f"/v1/meters/{IMPORT_MUID}/autocorrelation", lags="1,96,672")
    AutocorrelationResponse.model_validate(body)
    assert body["interval_s"] == 900
    assert [entry["lag"] for entry in body["lags"]] == [1, 96, 672]
    for entry in body["lags"]:
        assert entry["value"] == pytest.approx(expected[entry["lag"]], abs=1e-9)
    assert body["lags"][0]["value"] > 0.3  # consecutive quarter hours are alike


async def test_readings_of_a_day_match_the_file(api: httpx.AsyncClient, source_file: FileOf) -> None:
    body = await get_json(
        api, f"/v1/meters/{IMPORT_MUID}/readings", start="2023-02-01", end="2023-02-02", obis="0100011D00FF"
    )
    ReadingsResponse.model_validate(body)
    assert body["next_cursor"] is None
    records = json.loads(source_file(IMPORT_MUID).read_bytes())["data"]
    expected = sorted(
        (utc(r["timestamp"]), r["0100011D00FF"]) for r in records if r["timestamp"].startswith("2023-02-01")
    )
    assert [(utc(r["ts"]), r["value"]) for r in body["readings"]] == expected
    assert sum(value for _, value in expected) == pytest.approx(1.8766, abs=TOL)
