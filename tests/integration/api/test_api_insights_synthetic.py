"""Issue 14's insight features on generated readings: DST days (23 h and 25 h in Zurich), public holidays,
a meter with an import and an export channel, a year-ago period, and caching across a new write."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import prometheus_client
import pytest
from meterflow_api.schemas import SeriesResponse, StatsResponse
from meterflow_api.schemas_insights import MultiSeriesResponse, OverviewResponse

pytestmark = pytest.mark.integration
MUID = "5a1f2b3c-0000-4000-8000-0000000000a1"
IMPORT, EXPORT = "1-0:1.29.0*255", "1-0:2.29.0*255"
ZURICH = ZoneInfo("Europe/Zurich")
STEP = timedelta(minutes=15)
PERIODS = [
    (datetime(2022, 3, 20, tzinfo=UTC), datetime(2022, 4, 20, tzinfo=UTC)),
    (datetime(2023, 3, 20, tzinfo=UTC), datetime(2023, 5, 2, tzinfo=UTC)),
    (datetime(2023, 10, 23, tzinfo=UTC), datetime(2023, 11, 1, tzinfo=UTC)),
]
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]


def _import_value(ts: datetime) -> Decimal:
    return Decimal("0.0100") + Decimal("0.0007") * (ts.hour % 7) + Decimal("0.0001") * (ts.day % 5)


def _export_value(ts: datetime) -> Decimal:
    return Decimal("0.05") + Decimal("0.00025") * (ts.minute // 15) if 6 <= ts.hour < 16 else Decimal(0)


def _readings() -> list[tuple[datetime, str, Decimal]]:
    found = []
    for lo, hi in PERIODS:
        ts = lo
        while ts < hi:
            found.append((ts, IMPORT, _import_value(ts)))
            found.append((ts, EXPORT, _export_value(ts)))
            ts += STEP
    return found


READINGS = _readings()


def exact(obis: str, lo: datetime, hi: datetime, keep: Callable[[datetime], bool] = lambda _: True) -> Decimal:
    return sum(
        (v for ts, code, v in READINGS if code == obis and lo <= ts < hi and keep(ts.astimezone(ZURICH))),
        Decimal(0),
    )


def zurich(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZURICH).astimezone(UTC)


@pytest.fixture(scope="module")
async def api(database: str, client_factory: ClientFactory, insert_rows: Inserter) -> httpx.AsyncClient:
    muid = uuid.UUID(MUID)
    await insert_rows(database, [(muid, code, ts, float(v), "measured") for ts, code, v in READINGS])
    client: httpx.AsyncClient = await client_factory(database, channel_cache_s=0)
    return client


@pytest.fixture(scope="module")
async def raw_api(database: str, client_factory: ClientFactory, api: httpx.AsyncClient) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await client_factory(database, series_from_aggregates=False, channel_cache_s=0)
    return client


async def get_json(api: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await api.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("day", "hours"), [("2023-03-26", 23), ("2023-10-29", 25)])
async def test_dst_days_are_23_and_25_hours(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient, day: str, hours: int
) -> None:
    lo = zurich(day)
    hi = zurich((datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat())
    for client in (api, raw_api):
        for day_type in ("all", "weekend"):  # both days are Sundays
            body = await get_json(
                client,
                f"/v1/meters/{MUID}/series",
                obis=IMPORT,
                interval="1d",
                tz="Europe/Zurich",
                start=day,
                end=hi.astimezone(ZURICH).date().isoformat(),
                day_type=day_type,
            )
            SeriesResponse.model_validate(body)
            (point,) = body["points"]
            assert point["count"] == hours * 4
            assert Decimal(str(point["value"])) == exact(IMPORT, lo, hi)
        weekday = await get_json(
            client,
            f"/v1/meters/{MUID}/series",
            obis=IMPORT,
            interval="1d",
            tz="Europe/Zurich",
            start=day,
            end=hi.astimezone(ZURICH).date().isoformat(),
            day_type="weekday",
        )
        assert weekday["points"][0]["count"] == 0 and weekday["points"][0]["value"] is None


async def test_day_type_holiday_uses_the_region(api: httpx.AsyncClient, raw_api: httpx.AsyncClient) -> None:
    holidays_zh = ["2023-04-07", "2023-04-10", "2023-05-01"]  # Good Friday, Easter Monday, Labour Day in Zurich

    def on_holiday(local: datetime) -> bool:
        return local.date().isoformat() in holidays_zh

    lo, hi = zurich("2023-03-21"), zurich("2023-05-02")
    for client in (api, raw_api):
        body = await get_json(
            client,
            f"/v1/meters/{MUID}/series",
            obis=IMPORT,
            interval="1d",
            tz="Europe/Zurich",
            start="2023-03-21",
            end="2023-05-02",
            day_type="holiday",
            holidays="CH-ZH",
        )
        filled = [p["start"][:10] for p in body["points"] if p["count"]]
        assert filled == holidays_zh
        assert sum(Decimal(str(p["value"])) for p in body["points"] if p["count"]) == exact(IMPORT, lo, hi, on_holiday)
    stats = await get_json(
        api,
        f"/v1/meters/{MUID}/stats",
        obis=IMPORT,
        tz="Europe/Zurich",
        start="2023-03-21",
        end="2023-05-02",
        day_type="holiday",  # the default region, CH-ZH
    )
    StatsResponse.model_validate(stats)
    assert stats["count"] == stats["expected"] == 3 * 96
    assert Decimal(str(stats["total"])) == exact(IMPORT, lo, hi, on_holiday)
    american = await get_json(
        api,
        f"/v1/meters/{MUID}/stats",
        obis=IMPORT,
        tz="Europe/Zurich",
        start="2023-03-21",
        end="2023-05-02",
        day_type="holiday",
        holidays="US",
    )
    assert american["count"] == 0  # no US federal holiday in that window
    profile = await get_json(
        api,
        f"/v1/meters/{MUID}/profile",
        obis=IMPORT,
        tz="Europe/Zurich",
        start="2023-03-21",
        end="2023-05-02",
        day_type="holiday",
    )
    assert [i for i, v in enumerate(profile["by_weekday"]) if v is not None] == [0, 4]  # Mondays and a Friday


async def test_bad_day_type_and_region_are_named(api: httpx.AsyncClient) -> None:
    response = await api.get(
        f"/v1/meters/{MUID}/stats", params={"obis": IMPORT, "day_type": "workday", "holidays": "XX"}
    )
    assert response.status_code == 422
    problems = {tuple(p["loc"]): p["msg"] for p in response.json()["detail"]}
    assert "all, weekday, weekend, holiday" in problems[("query", "day_type")]
    assert "CH-ZH" in problems[("query", "holidays")]
    sub = await api.get(f"/v1/meters/{MUID}/stats", params={"obis": IMPORT, "day_type": "holiday", "holidays": "CH-XX"})
    assert sub.status_code == 422 and "ZH" in sub.json()["detail"][0]["msg"]


async def test_series_of_several_channels(api: httpx.AsyncClient) -> None:
    params = {"interval": "1d", "tz": "Europe/Zurich", "start": "2023-04-01", "end": "2023-04-03"}
    every = await get_json(api, f"/v1/meters/{MUID}/series", **params)
    MultiSeriesResponse.model_validate(every)
    assert [c["obis"] for c in every["channels"]] == [IMPORT, EXPORT]
    assert [c["direction"] for c in every["channels"]] == ["import", "export"]
    both = await get_json(api, f"/v1/meters/{MUID}/series", obis=["0100021D00FF", "1.29.0"], **params)
    assert both == every
    for channel in every["channels"]:
        single = await get_json(api, f"/v1/meters/{MUID}/series", obis=channel["obis"], **params)
        assert single["points"] == channel["points"]
        assert set(single) == {"muid", "obis", "unit", "interval", "agg", "tz", "points"}  # unchanged shape
    table = (await api.get(f"/v1/meters/{MUID}/series", params={**params, "format": "csv"})).text
    rows = list(csv.DictReader(io.StringIO(table)))
    assert list(rows[0]) == ["obis", "start", "end", "value", "count"]
    assert [(r["obis"], r["value"]) for r in rows] == [
        (c["obis"], str(p["value"])) for c in every["channels"] for p in c["points"]
    ]
    missing = await api.get(f"/v1/meters/{MUID}/series", params={**params, "obis": [IMPORT, "1.8.0"]})
    assert missing.status_code == 404
    bad = await api.get(f"/v1/meters/{MUID}/series", params={**params, "obis": [IMPORT, "nope"]})
    assert bad.status_code == 422


async def test_compare_with_a_year_before(api: httpx.AsyncClient) -> None:
    body = await get_json(
        api,
        f"/v1/meters/{MUID}/stats",
        obis=IMPORT,
        tz="Europe/Zurich",
        start="2023-03-21",
        end="2023-04-11",
        compare="year",
    )
    now = exact(IMPORT, zurich("2023-03-21"), zurich("2023-04-11"))
    before = exact(IMPORT, zurich("2022-03-21"), zurich("2022-04-11"))
    compared = body["compare"]
    assert compared["start"] == "2022-03-21T00:00:00+01:00" and compared["end"] == "2022-04-11T00:00:00+02:00"
    assert Decimal(str(body["total"])) == now and Decimal(str(compared["total"])) == before
    assert Decimal(str(compared["difference"]["total"]["absolute"])) == now - before
    assert compared["count"] == compared["expected"] == body["count"]  # the same wall-clock days, DST on both


async def test_patterns_agree_raw_and_rollup_across_dst(api: httpx.AsyncClient, raw_api: httpx.AsyncClient) -> None:
    params = {"obis": IMPORT, "tz": "Europe/Zurich", "start": "2023-03-20", "end": "2023-04-03", "patterns": "true"}
    rolled = await get_json(api, f"/v1/meters/{MUID}/profile", **params)
    raw = await get_json(raw_api, f"/v1/meters/{MUID}/profile", **params)
    assert rolled["patterns"] == raw["patterns"]
    sunday = rolled["patterns"]["weekday_hour"][6]
    assert sunday[2]["n"] == 1  # 02:00 does not exist on 26 March in Zurich, only on 2 April
    assert sunday[3]["n"] == 2


async def test_overview_and_insights_across_the_autumn_change(api: httpx.AsyncClient) -> None:
    params = {"tz": "Europe/Zurich", "start": "2023-10-23", "end": "2023-11-01"}
    body = await get_json(api, f"/v1/meters/{MUID}/overview", **params)
    OverviewResponse.model_validate(body)
    assert [c["obis"] for c in body["channels"]] == [IMPORT, EXPORT]
    daily = {p["start"][:10]: p["count"] for p in body["channels"][0]["daily"]}
    assert daily["2023-10-29"] == 100 and daily["2023-10-28"] == 96
    insights = body["insights"]
    # 06:00-16:00 UTC: 08:00-18:00 in summer time (CEST) until 29 October, 07:00-17:00 after (CET).
    assert insights["pv_window"]["first"] == "07:00" and insights["pv_window"]["last"] == "18:00"
    by_day = {d["date"]: (d["first"], d["last"]) for d in insights["pv_window"]["days"]}
    assert by_day["2023-10-28"] == ("08:00", "18:00") and by_day["2023-10-30"] == ("07:00", "17:00")
    assert {"base_load", "standby", "peak_hours", "weekday_weekend", "unusual_days"} <= set(insights)
    assert insights["unavailable"] == {}
    # After the change the UTC-hour pattern falls an hour later on the local clock: a Monday or Tuesday
    # after it (each weekday is there once or twice) differs most from its weekday's usual shape.
    assert insights["unusual_days"]["days"][0]["date"] in ("2023-10-30", "2023-10-31")


async def test_a_new_reading_changes_the_etag(api: httpx.AsyncClient, database: str, insert_rows: Inserter) -> None:
    path = f"/v1/meters/{MUID}/stats?obis={IMPORT}&start=2023-10-23&end=2023-11-02"
    first = await api.get(path)
    etag = first.headers["etag"]
    assert (await api.get(path, headers={"If-None-Match": etag})).status_code == 304
    # Asked again without the tag: the worker's response cache answers, with the same body and headers.
    hits = response_cache_hits()
    again = await api.get(path)
    assert response_cache_hits() == hits + 1
    assert again.content == first.content and again.headers["etag"] == etag
    assert again.headers["content-type"] == first.headers["content-type"] == "application/json"
    await insert_rows(database, [(uuid.UUID(MUID), IMPORT, datetime(2023, 11, 1, tzinfo=UTC), 0.5, "measured")])
    after = await api.get(path, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["etag"] != etag
    assert after.json()["count"] == first.json()["count"] + 1
    # The stored body of the old version is never served again: the new data has a new key.
    fresh = await api.get(path)
    assert fresh.json()["count"] == first.json()["count"] + 1 and fresh.headers["etag"] == after.headers["etag"]


def response_cache_hits() -> float:
    """Answers served from the response cache so far, in this process (the tests' API runs in it)."""
    return prometheus_client.REGISTRY.get_sample_value("meterflow_api_response_cache_total", {"result": "hit"}) or 0.0


async def test_scoped_channels_keep_to_the_tenant(api: httpx.AsyncClient, database: str) -> None:
    """The one tenancy rule of the insight, overview and fleet routes (the routes pass None until the
    principal is plugged in): a tenant sees its own meters only, None every meter."""
    from meterflow_api.config import Settings
    from meterflow_api.db import Database
    from meterflow_api.errors import NotFound
    from meterflow_api.insights_db import scoped_channels

    conn = await asyncpg.connect(database)
    try:
        await conn.execute("INSERT INTO tenants (name) VALUES ('acme'), ('other') ON CONFLICT DO NOTHING")
        await conn.execute(
            "INSERT INTO meter_tenants (muid, tenant, assigned_by) VALUES ($1, 'acme', 'test') ON CONFLICT DO NOTHING",
            uuid.UUID(MUID),
        )
    finally:
        await conn.close()
    settings = Settings(database_url=database)
    db = await Database.connect(
        str(settings.database_url),
        min_size=1,
        max_size=1,
        acquire_timeout=5,
        statement_timeout_ms=0,
        statement_cache_size=0,
    )
    try:
        async with db.session() as session:
            assert {s.channel.obis for s in await scoped_channels(session, "acme")} == {IMPORT, EXPORT}
            assert await scoped_channels(session, "other") == []
            assert len(await scoped_channels(session, None)) >= 2
            assert len(await scoped_channels(session, "acme", uuid.UUID(MUID))) == 2
            with pytest.raises(NotFound):
                await scoped_channels(session, "other", uuid.UUID(MUID))
    finally:
        await db.close()
