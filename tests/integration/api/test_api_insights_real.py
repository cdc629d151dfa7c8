"""Issue 14's insight figures on the real February 2023 files, each against an independent computation:
pandas (or exact decimal arithmetic) straight from the source JSON, never from the API's own code."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from meterflow_api.schemas import ProfileResponse, SeriesResponse, StatsResponse
from meterflow_api.schemas_insights import (
    FleetSeriesResponse,
    FleetTopResponse,
    InsightsResponse,
    OverviewResponse,
)

pytestmark = pytest.mark.integration
IMPORT_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
EXPORT_MUID = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
ZURICH = "Europe/Zurich"
REL = 1e-9
RowsOf = Callable[[str], list[Any]]
FileOf = Callable[[str], Path]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]


@pytest.fixture(scope="module")
def api(real_api: httpx.AsyncClient) -> httpx.AsyncClient:
    return real_api


@pytest.fixture(scope="module")
async def raw_api(database: str, client_factory: ClientFactory, api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same data, aggregated from the raw rows only (no hourly rollup)."""
    client: httpx.AsyncClient = await client_factory(database, series_from_aggregates=False)
    return client


# The precision each file delivers (its README: import 4 decimals, export multiples of 0.00025); 144 export
# values carry float noise in the JSON text itself (0.035500000000000004), which this rounding removes.
PRECISION = {IMPORT_MUID: Decimal("0.0001"), EXPORT_MUID: Decimal("0.00001")}


def decimals(source_file: FileOf, muid: str) -> pd.DataFrame:
    """The source file as (UTC, local time in Zurich, exact decimal value at the source's precision) rows,
    oldest first, within February in Zurich (the API requests below ask for 2023-02-01 to 2023-03-01 there)."""
    records = json.loads(source_file(muid).read_text(), parse_float=Decimal)["data"]
    key = next(k for k in records[0] if k not in ("measurement", "timestamp", "tags"))
    values = [Decimal(r[key]).quantize(PRECISION[muid]) for r in records]
    frame = pd.DataFrame({"ts": pd.to_datetime([r["timestamp"] for r in records], utc=True), "value": values})
    frame["local"] = frame["ts"].dt.tz_convert(ZURICH)
    lo, hi = pd.Timestamp("2023-02-01", tz=ZURICH), pd.Timestamp("2023-03-01", tz=ZURICH)
    frame = frame[(frame["local"] >= lo) & (frame["local"] < hi)]
    return frame.sort_values("ts").reset_index(drop=True)


def floats(source_file: FileOf, muid: str) -> pd.DataFrame:
    frame = decimals(source_file, muid)
    frame["value"] = frame["value"].astype(float)
    return frame


def hourly(frame: pd.DataFrame) -> pd.Series:
    """Energy per local clock hour (Zurich has whole-hour offsets: the UTC hours), indexed by local start."""
    sums = frame.groupby(frame["ts"].dt.floor("h"))["value"].sum()
    sums.index = sums.index.tz_convert(ZURICH)
    return sums


async def get_json(api: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await api.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


# --- numbers without binary noise ----------------------------------------------------------------------------


@pytest.mark.parametrize("muid", [IMPORT_MUID, EXPORT_MUID])
@pytest.mark.parametrize("interval", ["1d", "1w", "1h"])
async def test_sums_are_the_exact_decimal_sums(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient, source_file: FileOf, muid: str, interval: str
) -> None:
    frame = decimals(source_file, muid)
    freq = {"1d": "D", "1w": "W-SUN", "1h": "h"}[interval]
    local = frame.set_index("local")["value"]
    exact = {
        str(k.date()) if interval != "1h" else k.isoformat(): sum(v, Decimal(0))
        for k, v in local.groupby(pd.Grouper(freq=freq))
    }
    for client in (api, raw_api):
        body = await get_json(
            client, f"/v1/meters/{muid}/series", interval=interval, tz=ZURICH, start="2023-02-01", end="2023-03-01"
        )
        SeriesResponse.model_validate(body)
        for point in body["points"]:
            if point["count"] == 0:
                continue
            value = point["value"]
            assert value == float(Decimal(str(value))), value  # the shortest text, no noise digits
            assert Decimal(str(value)) == _exact_for(exact, point, interval), point
        text = (
            await client.get(
                f"/v1/meters/{muid}/series",
                params={
                    "interval": interval,
                    "tz": ZURICH,
                    "start": "2023-02-01",
                    "end": "2023-03-01",
                    "format": "csv",
                },
            )
        ).text
        for line in text.splitlines()[1:]:
            value_text = line.split(",")[2]
            assert len(value_text.split(".")[-1]) <= 6, (
                line
            )  # at most the source's 5 decimals, never 1.8298999999999999


def _exact_for(exact: dict[str, Decimal], point: dict[str, Any], interval: str) -> Decimal:
    if interval == "1h":
        return exact[pd.Timestamp(point["start"]).tz_convert(ZURICH).isoformat()]
    if interval == "1w":
        end = pd.Timestamp(point["end"]).tz_convert(ZURICH) - pd.Timedelta(days=1)
        return exact[str(end.date())]
    return exact[point["start"][:10]]


async def test_zurich_day_total_reads_as_the_source_delivered_it(api: httpx.AsyncClient) -> None:
    body = await get_json(
        api, f"/v1/meters/{IMPORT_MUID}/series", interval="1d", tz=ZURICH, start="2023-02-01", end="2023-02-02"
    )
    assert body["points"][0]["value"] == 1.8299
    stats = await get_json(api, f"/v1/meters/{IMPORT_MUID}/stats")
    assert stats["total"] == 97.6082
    export = await get_json(api, f"/v1/meters/{EXPORT_MUID}/stats")
    assert export["total"] == 36.19725


# --- day_type --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("day_type", ["weekday", "weekend"])
async def test_day_type_keeps_the_local_days(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient, source_file: FileOf, day_type: str
) -> None:
    frame = decimals(source_file, IMPORT_MUID)
    weekend = frame["local"].dt.day_of_week >= 5
    kept = frame[weekend if day_type == "weekend" else ~weekend]
    params = {"tz": ZURICH, "day_type": day_type, "start": "2023-02-01", "end": "2023-03-01"}
    stats = await get_json(api, f"/v1/meters/{IMPORT_MUID}/stats", **params)
    StatsResponse.model_validate(stats)
    in_range = kept
    assert Decimal(str(stats["total"])) == sum(in_range["value"], Decimal(0))
    assert stats["count"] == len(in_range)
    days = 8 if day_type == "weekend" else 20
    assert stats["expected"] == days * 96
    for client in (api, raw_api):
        series = await get_json(client, f"/v1/meters/{IMPORT_MUID}/series", interval="1d", **params)
        by_day = {p["start"][:10]: p for p in series["points"]}
        for day, group in in_range.groupby(in_range["local"].dt.date):
            assert Decimal(str(by_day[str(day)]["value"])) == sum(group["value"], Decimal(0))
        skipped = [p for p in series["points"] if p["count"] == 0]
        assert len(skipped) == 28 - days
    profile = await get_json(api, f"/v1/meters/{IMPORT_MUID}/profile", **params)
    present = [i for i, v in enumerate(profile["by_weekday"]) if v is not None]
    assert present == ([5, 6] if day_type == "weekend" else [0, 1, 2, 3, 4])


async def test_no_holiday_in_february_in_zurich(api: httpx.AsyncClient) -> None:
    stats = await get_json(
        api, f"/v1/meters/{IMPORT_MUID}/stats", tz=ZURICH, day_type="holiday", start="2023-02-01", end="2023-03-01"
    )
    assert stats["count"] == 0 and stats["total"] is None and stats["expected"] == 0


# --- profile patterns ------------------------------------------------------------------------------------------


async def test_patterns_match_pandas(api: httpx.AsyncClient, raw_api: httpx.AsyncClient, source_file: FileOf) -> None:
    hours = hourly(floats(source_file, IMPORT_MUID))
    frame = pd.DataFrame({"v": hours.values, "weekday": hours.index.day_of_week, "hour": hours.index.hour})
    for client in (api, raw_api):
        body = await get_json(
            client,
            f"/v1/meters/{IMPORT_MUID}/profile",
            tz=ZURICH,
            start="2023-02-01",
            end="2023-03-01",
            patterns="true",
        )
        ProfileResponse.model_validate(body)
        patterns = body["patterns"]
        for hour, group in frame.groupby("hour"):
            _check_pattern(patterns["by_hour"][hour], group["v"])
        for (weekday, hour), group in frame.groupby(["weekday", "hour"]):
            _check_pattern(patterns["weekday_hour"][weekday][hour], group["v"])


def _check_pattern(got: dict[str, Any], values: pd.Series) -> None:
    assert got["n"] == len(values)
    expected = {
        "mean": values.mean(),
        "std": values.std(ddof=1),
        "min": values.min(),
        "max": values.max(),
        "p10": values.quantile(0.1),
        "p50": values.quantile(0.5),
        "p90": values.quantile(0.9),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=REL, abs=1e-12), name


# --- insights --------------------------------------------------------------------------------------------------


async def test_consumption_insights_match_pandas(api: httpx.AsyncClient, source_file: FileOf) -> None:
    body = await get_json(api, f"/v1/meters/{IMPORT_MUID}/insights", tz=ZURICH, start="2023-02-01", end="2023-03-01")
    InsightsResponse.model_validate(body)
    found = body["insights"]
    hours = hourly(floats(source_file, IMPORT_MUID))
    by_hour = hours.groupby(hours.index.hour).mean()

    night = by_hour.loc[0:5]
    assert found["base_load"]["kw"] == pytest.approx(night.min(), rel=REL)
    assert found["base_load"]["hour"] == int(night.idxmin())
    assert found["base_load"]["sentence"] == f"Your base load is {night.min():.2f} kW."

    standby = night.min() * len(hours)
    assert found["standby"]["kwh"] == pytest.approx(standby, rel=REL)
    assert found["standby"]["share"] == pytest.approx(standby / hours.sum(), rel=REL)

    top = by_hour.sort_values(ascending=False, kind="stable").head(3)
    assert found["peak_hours"]["hours"] == [int(h) for h in top.index]
    assert found["peak_hours"]["kwh"] == pytest.approx(list(top.values), rel=REL)

    daily = hours.groupby(hours.index.date).sum()
    weekend = pd.Index([d.weekday() >= 5 for d in daily.index])
    shapes = found["weekday_weekend"]
    assert shapes["weekday_kwh_per_day"] == pytest.approx(daily[~weekend].mean(), rel=REL)
    assert shapes["weekend_kwh_per_day"] == pytest.approx(daily[weekend].mean(), rel=REL)
    assert shapes["ratio"] == pytest.approx(daily[weekend].mean() / daily[~weekend].mean(), rel=REL)
    weekday_shape = hours[hours.index.day_of_week < 5].groupby(hours[hours.index.day_of_week < 5].index.hour).mean()
    assert shapes["weekday_shape"] == pytest.approx(list(weekday_shape.values), rel=REL)

    grid = pd.DataFrame({"v": hours.values, "day": hours.index.date, "hour": hours.index.hour}).pivot_table(
        index="day", columns="hour", values="v", aggfunc="sum"
    )
    weekday_of = pd.Series([d.weekday() for d in grid.index], index=grid.index)
    usual = grid.groupby(weekday_of).median()
    distance = pd.Series([(grid.loc[d] - usual.loc[weekday_of[d]]).abs().sum() for d in grid.index], index=grid.index)
    mad = (distance - distance.median()).abs().median()
    z = (0.6745 * (distance - distance.median()) / mad).sort_values(ascending=False, kind="stable")
    got = found["unusual_days"]["days"]
    assert [d["date"] for d in got] == [str(d) for d in z.index[:3]]
    assert [d["z"] for d in got] == pytest.approx(list(z.values[:3]), rel=REL)
    assert all(d["unusual"] == (d["z"] > 3.5) for d in got)
    assert "pv_window" in found["unavailable"]
    for name in ("base_load", "standby", "peak_hours", "weekday_weekend", "unusual_days"):
        assert found[name]["sentence"].endswith(".")


async def test_insights_agree_from_the_rollup_and_the_raw_rows(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient
) -> None:
    params = {"tz": ZURICH, "start": "2023-02-01", "end": "2023-03-01"}
    rolled = (await get_json(api, f"/v1/meters/{IMPORT_MUID}/insights", **params))["insights"]
    raw = (await get_json(raw_api, f"/v1/meters/{IMPORT_MUID}/insights", **params))["insights"]
    assert rolled.keys() == raw.keys()
    assert rolled["base_load"]["kw"] == pytest.approx(raw["base_load"]["kw"], rel=1e-11)
    assert rolled["peak_hours"]["hours"] == raw["peak_hours"]["hours"]
    assert [d["date"] for d in rolled["unusual_days"]["days"]] == [d["date"] for d in raw["unusual_days"]["days"]]


async def test_pv_window_matches_pandas(api: httpx.AsyncClient, source_file: FileOf) -> None:
    body = await get_json(api, f"/v1/meters/{EXPORT_MUID}/insights", tz=ZURICH)
    found = body["insights"]
    assert set(found) == {"pv_window", "unavailable"}
    assert set(found["unavailable"]) == {"base_load", "standby", "peak_hours", "weekday_weekend", "unusual_days"}
    frame = floats(source_file, EXPORT_MUID)
    producing = frame[frame["value"] != 0]
    days = producing.groupby(producing["local"].dt.date)["local"]
    first = days.min().dt.strftime("%H:%M")
    last = (days.max() + pd.Timedelta(minutes=15)).dt.strftime("%H:%M")
    assert [d["date"] for d in found["pv_window"]["days"]] == [str(d) for d in first.index]
    assert [d["first"] for d in found["pv_window"]["days"]] == list(first.values)
    assert [d["last"] for d in found["pv_window"]["days"]] == list(last.values)
    assert found["pv_window"]["first"] == min(first.values)
    assert found["pv_window"]["last"] == max(last.values)
    # The README: export only between 06:15 and 16:45 UTC, i.e. 07:15 and 17:45 (+ one interval) in Zurich.
    assert found["pv_window"]["first"] >= "07:15" and found["pv_window"]["last"] <= "18:00"


# --- overview, fleet, compare, caching -------------------------------------------------------------------------


async def test_overview_repeats_the_single_routes(api: httpx.AsyncClient) -> None:
    params = {"tz": ZURICH, "start": "2023-02-01", "end": "2023-03-01"}
    body = await get_json(api, f"/v1/meters/{IMPORT_MUID}/overview", **params)
    OverviewResponse.model_validate(body)
    (channel,) = body["channels"]
    stats = await get_json(api, f"/v1/meters/{IMPORT_MUID}/stats", **params)
    assert channel["stats"] == {k: v for k, v in stats.items() if k not in ("muid", "obis", "unit", "tz")}
    series = await get_json(api, f"/v1/meters/{IMPORT_MUID}/series", interval="1d", **params)
    assert channel["daily"] == series["points"]
    profile = await get_json(api, f"/v1/meters/{IMPORT_MUID}/profile", **params)
    for row, expected in zip(channel["heatmap"], profile["weekday_hour"], strict=True):
        assert row == pytest.approx(expected, rel=1e-11)  # from the hourly rollup there, the raw rows here
    insights = await get_json(api, f"/v1/meters/{IMPORT_MUID}/insights", **params)
    assert body["insights"] == insights["insights"]
    assert "cost" not in body


async def test_fleet_sums_both_meters(api: httpx.AsyncClient, raw_api: httpx.AsyncClient, source_file: FileOf) -> None:
    for client in (api, raw_api):
        body = await get_json(
            client, "/v1/fleet/series", start="2023-02-01", end="2023-03-01", interval="1w", tz=ZURICH
        )
        FleetSeriesResponse.model_validate(body)
        kinds = {k["direction"]: k for k in body["kinds"]}
        assert set(kinds) == {"import", "export"}
        for direction, muid in (("import", IMPORT_MUID), ("export", EXPORT_MUID)):
            frame = decimals(source_file, muid)
            assert Decimal(str(sum(Decimal(str(p["value"] or 0)) for p in kinds[direction]["points"]))) == sum(
                frame["value"], Decimal(0)
            )
            assert kinds[direction]["meters"] == 1
    top = await get_json(api, "/v1/fleet/top", start="2023-02-01T00:00Z", end="2023-03-01T00:00Z", n=5)
    FleetTopResponse.model_validate(top)
    assert top["meters"] == [{"muid": IMPORT_MUID, "obis": "1-0:1.29.0*255", "kwh": 97.6082, "count": 2688}]
    bad = await api.get("/v1/fleet/top", params={"start": "2023-02-01", "end": "2023-03-01", "n": 0})
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "n"]


async def test_compare_with_the_previous_week(api: httpx.AsyncClient, source_file: FileOf) -> None:
    frame = decimals(source_file, IMPORT_MUID)
    body = await get_json(
        api, f"/v1/meters/{IMPORT_MUID}/stats", tz=ZURICH, start="2023-02-13", end="2023-02-20", compare="previous"
    )
    StatsResponse.model_validate(body)

    def week(start: str, end: str) -> Decimal:
        lo, hi = pd.Timestamp(start, tz=ZURICH), pd.Timestamp(end, tz=ZURICH)
        return sum(frame[(frame["local"] >= lo) & (frame["local"] < hi)]["value"], Decimal(0))

    now, before = week("2023-02-13", "2023-02-20"), week("2023-02-06", "2023-02-13")
    compared = body["compare"]
    assert compared["start"] == "2023-02-06T00:00:00+01:00" and compared["end"] == "2023-02-13T00:00:00+01:00"
    assert Decimal(str(body["total"])) == now and Decimal(str(compared["total"])) == before
    assert Decimal(str(compared["difference"]["total"]["absolute"])) == now - before
    assert compared["difference"]["total"]["relative"] == pytest.approx(float((now - before) / before), rel=1e-9)
    year = await get_json(
        api, f"/v1/meters/{IMPORT_MUID}/stats", tz=ZURICH, start="2023-02-13", end="2023-02-20", compare="year"
    )
    assert year["compare"]["start"] == "2022-02-13T00:00:00+01:00" and year["compare"]["count"] == 0
    assert year["compare"]["difference"]["total"] == {"absolute": None, "relative": None}


@pytest.mark.parametrize(
    "path",
    [
        f"/v1/meters/{IMPORT_MUID}/series?tz=Europe/Zurich",
        f"/v1/meters/{IMPORT_MUID}/series?format=csv",
        f"/v1/meters/{IMPORT_MUID}/stats?tz=Europe/Zurich",
        f"/v1/meters/{IMPORT_MUID}/profile",
        f"/v1/meters/{IMPORT_MUID}/insights",
        f"/v1/meters/{IMPORT_MUID}/overview",
        "/v1/fleet/series?start=2023-02-01&end=2023-03-01",
        "/v1/fleet/top?start=2023-02-01&end=2023-03-01",
    ],
)
async def test_etag_and_304(api: httpx.AsyncClient, path: str) -> None:
    first = await api.get(path)
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    again = await api.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    other = await api.get(path + ("&" if "?" in path else "?") + "tz=UTC&x=1")
    assert other.headers["etag"] != etag  # the request is part of the tag
    stale = await api.get(path, headers={"If-None-Match": 'W/"0000"'})
    assert stale.status_code == 200 and stale.content == first.content
