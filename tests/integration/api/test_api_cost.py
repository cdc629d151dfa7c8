"""Tariffs, cost and sites through the HTTP API on real PostgreSQL: the real February 2023 files checked
against computations written here independently (pandas, local-time bands, exact decimals from the source
JSON), and synthetic readings on DST days, a holiday and across a price change."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pandas as pd
import pytest
from meterflow_api.config import TariffSettings
from meterflow_api.cost import CostQuery, compute_cost
from meterflow_api.db import Database
from meterflow_api.schemas_cost import (
    BalanceResponse,
    CostResponse,
    SiteCostResponse,
    SiteInfo,
    SitesResponse,
    TariffInfo,
    TariffsResponse,
)
from meterflow_api.sites import list_sites, resolve_site
from meterflow_cli.main import cli
from meterflow_cli.sites_cmd import ChannelSpec, create_site

pytestmark = pytest.mark.integration

IMPORT_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
EXPORT_MUID = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
DST_MUID = "c0570000-0000-4000-8000-000000000001"
HOLIDAY_MUID = "c0570000-0000-4000-8000-000000000002"
PRODUCTION_MUID = "c0570000-0000-4000-8000-000000000003"
IMPORT = "1-0:1.29.0*255"
EXPORT = "1-0:2.29.0*255"
ZURICH = ZoneInfo("Europe/Zurich")
STEP = timedelta(minutes=15)
FEBRUARY = {"start": "2023-02-01T00:00:00Z", "end": "2023-03-01T00:00:00Z"}
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]
RowsOf = Callable[[str], list[Any]]
FileOf = Callable[[str], Path]

# A table tariff whose band bounds are half hours (priced from the raw readings) and whose prices change on
# 2023-02-15 (local midnight): the split the real February must show.
HALF_HOURS = [
    {"name": "peak", "price": "0.30", "windows": [{"days": "mon-fri", "from": "06:30", "to": "21:30"}]},
    {"name": "offpeak", "price": "0.20"},
]
HALF_HOURS_2 = [
    {"name": "peak", "price": "0.40", "windows": [{"days": "mon-fri", "from": "06:30", "to": "21:30"}]},
    {"name": "offpeak", "price": "0.25"},
]
EVERY_DAY = [
    {"name": "high", "price": "0.30", "windows": [{"days": "all", "from": "07:00", "to": "20:00"}]},
    {"name": "low", "price": "0.20"},
]


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZURICH).astimezone(UTC)


def quarters(start: datetime, end: datetime) -> list[datetime]:
    out = []
    while start < end:
        out.append(start)
        start += STEP
    return out


def synthetic_rows(source_rows: RowsOf) -> list[Any]:
    rows: list[Any] = []
    dst = uuid.UUID(DST_MUID)
    for day, next_day in (("2023-03-26", "2023-03-27"), ("2023-10-29", "2023-10-30")):
        rows += [
            (dst, IMPORT, ts, 0.25, "measured") for ts in quarters(local(day + "T00:00"), local(next_day + "T00:00"))
        ]
    holiday = uuid.UUID(HOLIDAY_MUID)
    rows += [
        (holiday, IMPORT, ts, 0.1, "measured") for ts in quarters(local("2023-08-01T00:00"), local("2023-08-03T00:00"))
    ]
    production = uuid.UUID(PRODUCTION_MUID)
    rows += [(production, EXPORT, ts, value * 2, q) for _, _, ts, value, q in source_rows(EXPORT_MUID)]
    return rows


async def add_tariff(
    conn: asyncpg.Connection, name: str, versions: list[tuple[str, str, str, Any]], **extra: Any
) -> None:
    await conn.execute(
        "INSERT INTO tariffs (name, zone, currency, holiday_country, holiday_subdivision, holiday_band)"
        " VALUES ($1, 'Europe/Zurich', 'CHF', $2, $3, $4)",
        name,
        extra.get("country"),
        extra.get("subdivision"),
        extra.get("band"),
    )
    for valid_from, fee, feed_in, bands in versions:
        await conn.execute(
            "INSERT INTO tariff_versions (tariff, valid_from, fixed_monthly_fee, feed_in_price, bands)"
            " VALUES ($1, $2::date, $3::numeric, $4::numeric, $5::jsonb)",
            name,
            datetime.fromisoformat(valid_from).date(),
            fee,
            feed_in,
            json.dumps(bands),
        )


@pytest.fixture(scope="module")
async def api(
    database: str, client_factory: ClientFactory, source_rows: RowsOf, insert_rows: Inserter
) -> httpx.AsyncClient:
    await insert_rows(database, source_rows(IMPORT_MUID) + source_rows(EXPORT_MUID) + synthetic_rows(source_rows))
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("INSERT INTO tenants (name) VALUES ('demo'), ('other')")
        await add_tariff(
            conn, "half-hours", [("2000-01-01", "0", "0", HALF_HOURS), ("2023-02-15", "0", "0", HALF_HOURS_2)]
        )
        await add_tariff(conn, "every-day", [("2000-01-01", "0", "0", EVERY_DAY)])
    finally:
        await conn.close()
    await create_site(
        database,
        "home",
        "demo",
        [
            ChannelSpec("import", "", uuid.UUID(IMPORT_MUID), None),
            ChannelSpec("export", "", uuid.UUID(EXPORT_MUID), None),
        ],
    )
    return await client_factory(database)


@pytest.fixture(scope="module")
async def raw_api(database: str, client_factory: ClientFactory, api: httpx.AsyncClient) -> httpx.AsyncClient:
    return await client_factory(database, series_from_aggregates=False)


async def get_json(api: httpx.AsyncClient, url: str, **params: str | int) -> Any:
    response = await api.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def independent_frame(path: Path, key: str) -> pd.DataFrame:
    """The source file as exact decimals with the local (Zurich) time of each interval start."""
    records = json.loads(path.read_text(), parse_float=Decimal)["data"]
    frame = pd.DataFrame(
        {"ts": pd.to_datetime([r["timestamp"] for r in records], utc=True), "kwh": [Decimal(r[key]) for r in records]}
    )
    frame["local"] = frame["ts"].dt.tz_convert("Europe/Zurich")
    return frame


def dec(value: float) -> Decimal:
    return Decimal(repr(value))


def places(value: Decimal, digits: str) -> Decimal:
    return value.quantize(Decimal(digits), rounding=ROUND_HALF_EVEN)


# --- the real import meter in February 2023 ------------------------------------------------------------------


@pytest.mark.parametrize("raw", [False, True], ids=["rollup", "raw"])
async def test_real_import_cost_under_ch_ht_nt_matches_an_independent_computation(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient, source_file: FileOf, raw: bool
) -> None:
    frame = independent_frame(source_file(IMPORT_MUID), "0100011D00FF")
    is_high = (frame["local"].dt.day_of_week < 5) & (frame["local"].dt.hour >= 7) & (frame["local"].dt.hour < 20)
    high_kwh = sum(frame.loc[is_high, "kwh"], Decimal(0))
    low_kwh = sum(frame.loc[~is_high, "kwh"], Decimal(0))
    expected = high_kwh * Decimal("0.32") + low_kwh * Decimal("0.22")

    body = await get_json(raw_api if raw else api, f"/v1/meters/{IMPORT_MUID}/cost", tariff="ch-ht-nt", **FEBRUARY)
    CostResponse.model_validate(body)
    assert body["currency"] == "CHF"
    assert body["tz"] == "Europe/Zurich"
    assert body["total_kwh"] == 97.6082
    assert dec(body["total_cost"]) == places(expected, "0.0001")
    assert round(dec(body["total_cost"]), 2) == round(expected, 2)  # to the cent
    assert [(b["name"], b["price"], dec(b["kwh"]), dec(b["cost"])) for b in body["bands"]] == [
        ("high", 0.32, high_kwh, places(high_kwh * Decimal("0.32"), "0.0001")),
        ("low", 0.22, low_kwh, places(low_kwh * Decimal("0.22"), "0.0001")),
    ]
    assert body["fixed_fee"] == 0
    assert "points" not in body
    assert (body["total_cost"], body["bands"][0]["kwh"]) == (25.0714, 35.9763)  # as docs/api.md says


async def test_default_range_is_the_channel_data_and_equals_february(api: httpx.AsyncClient) -> None:
    whole = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", tariff="ch-ht-nt")
    february = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", tariff="ch-ht-nt", **FEBRUARY)
    assert whole["total_cost"] == february["total_cost"]
    assert whole["start"] == "2023-02-01T01:00:00+01:00"
    assert whole["end"] == "2023-03-01T01:00:00+01:00"


async def test_price_change_mid_february_and_half_hour_bands(api: httpx.AsyncClient, source_file: FileOf) -> None:
    frame = independent_frame(source_file(IMPORT_MUID), "0100011D00FF")
    minute = frame["local"].dt.hour * 60 + frame["local"].dt.minute
    peak = (frame["local"].dt.day_of_week < 5) & (minute >= 6 * 60 + 30) & (minute < 21 * 60 + 30)
    later = frame["local"].dt.tz_localize(None) >= datetime(2023, 2, 15)
    expected = []
    for valid_from, prices, part in (("2000-01-01", ("0.30", "0.20"), ~later), ("2023-02-15", ("0.40", "0.25"), later)):
        for name, price, mask in (("peak", prices[0], peak), ("offpeak", prices[1], ~peak)):
            kwh = sum(frame.loc[part & mask, "kwh"], Decimal(0))
            expected.append((name, Decimal(price), valid_from, kwh, places(kwh * Decimal(price), "0.0001")))
    body = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", tariff="half-hours", **FEBRUARY)
    got = [(b["name"], dec(b["price"]), b["valid_from"], dec(b["kwh"]), dec(b["cost"])) for b in body["bands"]]
    assert got == expected
    total = sum((e[3] * e[1] for e in expected), Decimal(0))
    assert dec(body["total_cost"]) == places(total, "0.0001")


async def test_points_shift_and_csv(api: httpx.AsyncClient) -> None:
    params = {"tariff": "ch-ht-nt", "interval": "1d", "shift": "0.5", **FEBRUARY}
    body = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", **params)
    CostResponse.model_validate(body)
    points = body["points"]
    assert len(points) == 29  # Zurich days: 1 Feb 01:00 .. 1 Mar 01:00 touches 29 of them
    assert points[0]["start"] == "2023-02-01T00:00:00+01:00"
    assert round(sum(dec(p["kwh"]) for p in points), 6) == dec(body["total_kwh"])
    assert abs(sum(dec(p["cost"]) for p in points) - dec(body["total_cost"])) <= Decimal("0.0001") * len(points)
    high = next(b for b in body["bands"] if b["name"] == "high")
    assert body["shift"]["share"] == 0.5
    assert dec(body["shift"]["shifted_kwh"]) == places(dec(high["kwh"]) / 2, "0.000001")
    assert dec(body["shift"]["saving"]) == places(dec(high["kwh"]) / 2 * Decimal("0.10"), "0.0001")
    assert dec(body["shift"]["cost"]) == places(dec(body["energy_cost"]) - dec(body["shift"]["saving"]), "0.0001")

    response = await api.get(f"/v1/meters/{IMPORT_MUID}/cost", params={**params, "format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [float(r["kwh"]) for r in rows] == [p["kwh"] for p in points]
    bands = list(
        csv.DictReader(
            io.StringIO(
                (await api.get(f"/v1/meters/{IMPORT_MUID}/cost", params={"tariff": "ch-ht-nt", "format": "csv"})).text
            )
        )
    )
    assert [r["name"] for r in bands] == ["high", "low"]


async def test_export_channel_is_paid_the_feed_in_price(api: httpx.AsyncClient) -> None:
    body = await get_json(api, f"/v1/meters/{EXPORT_MUID}/cost", tariff="ch-ht-nt-zh", **FEBRUARY)
    assert body["kind"] == "export"
    assert body["total_kwh"] == 36.19725
    assert body["bands"] == [
        {"name": "feed_in", "kwh": 36.19725, "cost": -4.7056, "price": -0.13, "valid_from": "2000-01-01"}
    ]
    assert body["fixed_fee"] == 0
    assert dec(body["total_cost"]) == places(Decimal("-36.19725") * Decimal("0.13"), "0.0001")


# --- synthetic: DST days and a holiday -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "next_day", "high", "low"),
    [("2023-03-26", "2023-03-27", 52, 40), ("2023-10-29", "2023-10-30", 52, 48)],
)
@pytest.mark.parametrize("raw", [False, True], ids=["rollup", "raw"])
async def test_dst_days_of_23_and_25_hours(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient, raw: bool, day: str, next_day: str, high: int, low: int
) -> None:
    body = await get_json(
        raw_api if raw else api,
        f"/v1/meters/{DST_MUID}/cost",
        tariff="every-day",
        start=day,
        end=next_day,
        interval="1h",
    )
    assert [(b["name"], b["kwh"]) for b in body["bands"]] == [("high", high * 0.25), ("low", low * 0.25)]
    assert len(body["points"]) == (high + low) // 4  # 23 or 25 hourly points
    assert [p["count"] for p in body["points"]] == [4] * ((high + low) // 4)  # readings, from the rollup too
    assert body["total_cost"] == float(Decimal("0.25") * (high * Decimal("0.30") + low * Decimal("0.20")))


async def test_holiday_is_low_all_day_under_the_zurich_tariff(api: httpx.AsyncClient) -> None:
    body = await get_json(
        api,
        f"/v1/meters/{HOLIDAY_MUID}/cost",
        tariff="ch-ht-nt-zh",
        start="2023-08-01",
        end="2023-08-03",
        interval="1d",
    )
    # 1 August (Tuesday, National Day): 96 quarter hours low; 2 August: 52 high, 44 low.
    assert [(b["name"], b["kwh"]) for b in body["bands"]] == [("high", 5.2), ("low", 14.0)]
    assert [p["cost"] for p in body["points"]] == [2.112, 2.632]
    assert body["fixed_fee"] == float(places(Decimal("5.00") * 2 / 31, "0.0001"))
    plain = await get_json(
        api, f"/v1/meters/{HOLIDAY_MUID}/cost", tariff="ch-ht-nt", start="2023-08-01", end="2023-08-02"
    )
    assert [(b["name"], b["kwh"]) for b in plain["bands"]] == [("high", 5.2), ("low", 4.4)]


# --- tariffs -------------------------------------------------------------------------------------------------


async def test_tariffs_come_from_the_file_and_the_table(api: httpx.AsyncClient) -> None:
    body = await get_json(api, "/v1/tariffs")
    TariffsResponse.model_validate(body)
    by_name = {t["name"]: t for t in body["tariffs"]}
    assert set(by_name) == {"ch-ht-nt", "ch-ht-nt-zh", "every-day", "half-hours"}
    assert by_name["ch-ht-nt"]["source"] == "file"
    assert by_name["half-hours"]["source"] == "table"
    assert by_name["ch-ht-nt"]["versions"][0]["bands"] == [
        {"name": "high", "price": 0.32, "windows": [{"days": "mon-fri", "from": "07:00", "to": "20:00"}]},
        {"name": "low", "price": 0.22, "windows": []},
    ]
    one = await get_json(api, "/v1/tariffs/ch-ht-nt-zh")
    TariffInfo.model_validate(one)
    assert one["holidays"] == {"country": "CH", "subdivision": "ZH", "band": "low"}
    missing = await api.get("/v1/tariffs/nope")
    assert missing.status_code == 404
    assert "ch-ht-nt" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("params", "loc", "fragment"),
    [
        ({"tariff": "nope"}, ["query", "tariff"], "use one of ch-ht-nt"),
        ({"tariff": "ch-ht-nt", "shift": "1.5"}, ["query", "shift"], "between 0 and 1"),
        ({"tariff": "ch-ht-nt", "interval": "2h"}, ["query", "interval"], "unknown interval"),
        ({"tariff": "ch-ht-nt", "start": "2022-01-01", "end": "2023-03-01"}, ["query", "end"], "at most 366 days"),
    ],
)
async def test_invalid_cost_requests_say_what_to_fix(
    api: httpx.AsyncClient, params: dict[str, str], loc: list[str], fragment: str
) -> None:
    response = await api.get(f"/v1/meters/{IMPORT_MUID}/cost", params=params)
    assert response.status_code == 422, response.text
    problem = response.json()["detail"][0]
    assert problem["loc"] == loc
    assert fragment in problem["msg"]


async def test_tariff_is_required(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/v1/meters/{IMPORT_MUID}/cost")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "tariff"]


# --- sites ---------------------------------------------------------------------------------------------------


async def test_sites_are_listed_with_channels_chosen_from_the_channels_table(api: httpx.AsyncClient) -> None:
    body = await get_json(api, "/v1/sites")
    SitesResponse.model_validate(body)
    home = next(s for s in body["sites"] if s["name"] == "home")
    assert home["tenant"] == "demo"
    assert home["channels"] == [
        {"role": "import", "label": None, "muid": IMPORT_MUID, "obis": IMPORT},
        {"role": "export", "label": None, "muid": EXPORT_MUID, "obis": EXPORT},
    ]
    SiteInfo.model_validate(await get_json(api, "/v1/sites/home"))
    assert (await api.get("/v1/sites/nope")).status_code == 404


async def test_balance_of_the_real_pair_names_the_figures_it_cannot_support(
    api: httpx.AsyncClient, source_file: FileOf
) -> None:
    body = await get_json(api, "/v1/sites/home/balance", interval="1d", tz="Europe/Zurich", **FEBRUARY)
    BalanceResponse.model_validate(body)
    assert body["totals"] == {"import_kwh": 97.6082, "export_kwh": 36.19725, "net_kwh": 61.41095}
    assert set(body["unavailable"]) == {
        "production_kwh",
        "self_consumption_kwh",
        "self_consumption_rate",
        "self_sufficiency",
    }
    assert "an export meter" in body["unavailable"]["production_kwh"]
    imports = independent_frame(source_file(IMPORT_MUID), "0100011D00FF")
    exports = independent_frame(source_file(EXPORT_MUID), "0100021D00FF")
    first_day = local("2023-02-02T00:00")
    day_import = sum(imports.loc[imports["ts"] < first_day, "kwh"], Decimal(0))
    day_export = sum(exports.loc[exports["ts"] < first_day, "kwh"], Decimal(0))
    assert body["points"][0] == {
        "start": "2023-02-01T00:00:00+01:00",
        "end": "2023-02-02T00:00:00+01:00",
        # The export file carries binary noise in its text (0.035500000000000004): 6 places, as documented.
        "import_kwh": float(places(day_import, "0.000001")),
        "export_kwh": float(places(day_export, "0.000001")),
        "net_kwh": float(places(day_import - day_export, "0.000001")),
    }
    response = await api.get(
        "/v1/sites/home/balance", params={"interval": "1d", "tz": "Europe/Zurich", "format": "csv", **FEBRUARY}
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["start", "end", "import_kwh", "export_kwh", "net_kwh"]
    assert len(rows) == 1 + len(body["points"])


async def test_balance_with_a_production_channel_and_a_submeter(api: httpx.AsyncClient, database: str) -> None:
    # Made with the CLI itself: the production meter (2 x the real export) and a heat pump sub-meter.
    code = await asyncio.to_thread(
        cli,
        [
            "sites", "create", "pv-home", "--tenant", "demo", "--dsn", database,
            "--import", IMPORT_MUID, "--export", f"{EXPORT_MUID}:0100021D00FF",
            "--production", PRODUCTION_MUID, "--submeter", f"heat_pump={HOLIDAY_MUID}",
        ],
    )  # fmt: skip
    assert code == 0
    body = await get_json(api, "/v1/sites/pv-home/balance", interval="1mo", tz="UTC", **FEBRUARY)
    assert body["unavailable"] == {}
    totals = body["totals"]
    assert totals["production_kwh"] == 72.3945
    assert totals["self_consumption_kwh"] == 36.19725
    assert totals["self_consumption_rate"] == 0.5
    expected = Decimal("36.19725") / (Decimal("97.6082") + Decimal("36.19725"))
    assert totals["self_sufficiency"] == float(places(expected, "0.000001"))
    assert totals["submeters"] == {"heat_pump": None}  # its readings are in August
    response = await api.get(
        "/v1/sites/pv-home/balance", params={"interval": "1d", "start": "2023-08-01", "end": "2023-08-02"}
    )
    rows = list(csv.reader(io.StringIO((await api.get(str(response.url) + "&format=csv")).text)))
    assert rows[0][-3:] == ["self_consumption_rate", "self_sufficiency", "submeter_heat_pump_kwh"]
    assert rows[1][-1] == "9.6"  # 96 quarter hours of 0.1 kWh
    assert len(body["points"]) == 1
    audit = await asyncpg.connect(database)
    try:
        actions = await audit.fetch("SELECT action, subject FROM audit_log WHERE subject = 'pv-home'")
    finally:
        await audit.close()
    assert [(a["action"], a["subject"]) for a in actions] == [("site.create", "pv-home")]


async def test_site_cost_nets_import_cost_against_export_remuneration(api: httpx.AsyncClient) -> None:
    body = await get_json(
        api, "/v1/sites/home/cost", tariff="ch-ht-nt-zh", tz="Europe/Zurich", interval="1d", **FEBRUARY
    )
    SiteCostResponse.model_validate(body)
    meter = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", tariff="ch-ht-nt-zh", **FEBRUARY)
    assert body["import"]["total_cost"] == meter["total_cost"]
    assert body["export"]["remuneration"] == 4.7056
    assert dec(body["total_cost"]) == dec(meter["total_cost"]) - Decimal("4.7056")
    assert len(body["points"]) == 29
    params = {"tariff": "ch-ht-nt-zh", "tz": "Europe/Zurich", "format": "csv", **FEBRUARY}
    by_channel = list(csv.DictReader(io.StringIO((await api.get("/v1/sites/home/cost", params=params)).text)))
    assert [(r["role"], r["kwh"], r["cost"]) for r in by_channel] == [
        ("import", str(meter["total_kwh"]), str(meter["total_cost"])),
        ("export", "36.19725", "-4.7056"),
    ]
    per_day = (await api.get("/v1/sites/home/cost", params={**params, "interval": "1d"})).text.splitlines()
    assert per_day[0] == "start,end,import_kwh,export_kwh,import_cost,export_remuneration,net_cost"
    assert len(per_day) == 30


async def test_site_cost_carries_the_import_meters_shift_figure(api: httpx.AsyncClient) -> None:
    site = await get_json(api, "/v1/sites/home/cost", tariff="ch-ht-nt", shift="0.2", **FEBRUARY)
    SiteCostResponse.model_validate(site)
    meter = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", tariff="ch-ht-nt", shift="0.2", **FEBRUARY)
    assert site["import"]["shift"] == meter["shift"] and meter["shift"]["saving"] > 0
    assert "shift" not in site["export"]
    refused = await api.get("/v1/sites/home/cost", params={"tariff": "ch-ht-nt", "shift": "1.5", **FEBRUARY})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "shift"]


async def test_sites_of_another_tenant_are_unknown(database: str, api: httpx.AsyncClient) -> None:
    db = await Database.connect(
        database, min_size=1, max_size=1, acquire_timeout=5, statement_timeout_ms=0, statement_cache_size=0
    )
    try:
        async with db.session() as session:
            assert [s.name for s in await list_sites(session, "other")] == []
            assert "home" in [s.name for s in await list_sites(session, "demo")]
            assert (await resolve_site(session, "home", "demo")).tenant == "demo"
            with pytest.raises(Exception, match="unknown site"):
                await resolve_site(session, "home", "other")
    finally:
        await db.close()


async def test_the_cli_refuses_an_unknown_tenant_and_a_duplicate(database: str, api: httpx.AsyncClient) -> None:
    channels = ["--import", IMPORT_MUID, "--export", EXPORT_MUID]
    duplicate = ["sites", "create", "home", "--tenant", "demo", "--dsn", database, *channels]
    assert await asyncio.to_thread(cli, duplicate) == 1
    ghost = ["sites", "create", "elsewhere", "--tenant", "ghost", "--dsn", database, *channels]
    assert await asyncio.to_thread(cli, ghost) == 1
    assert await asyncio.to_thread(cli, ["sites", "delete", "elsewhere", "--dsn", database]) == 1
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            "INSERT INTO meter_tenants (muid, tenant, assigned_by) VALUES ($1, 'other', 'cli')", uuid.UUID(DST_MUID)
        )
    finally:
        await conn.close()
    foreign = ["sites", "create", "taken", "--tenant", "demo", "--dsn", database, *channels, "--production", DST_MUID]
    assert await asyncio.to_thread(cli, foreign) == 1
    assert await asyncio.to_thread(cli, ["sites", "list", "--tenant", "other", "--dsn", database]) == 0


async def test_compute_cost_for_the_overview_with_a_day_filter(
    database: str, api: httpx.AsyncClient, source_file: FileOf
) -> None:
    """compute_cost as the overview calls it, with a weekend filter in the include hook (day_type)."""
    frame = independent_frame(source_file(IMPORT_MUID), "0100011D00FF")
    weekend_kwh = sum(frame.loc[frame["local"].dt.day_of_week >= 5, "kwh"], Decimal(0))
    db = await Database.connect(
        database, min_size=1, max_size=1, acquire_timeout=5, statement_timeout_ms=0, statement_cache_size=0
    )
    try:
        query = CostQuery(
            uuid.UUID(IMPORT_MUID),
            None,
            datetime(2023, 2, 1, tzinfo=UTC),
            datetime(2023, 3, 1, tzinfo=UTC),
            "ch-ht-nt",
            include=lambda ts: ts.astimezone(ZURICH).weekday() >= 5,
        )
        result = await compute_cost(db, query, TariffSettings())
    finally:
        await db.close()
    assert [(b.name, b.kwh) for b in result.summary.bands] == [("low", weekend_kwh)]
    assert result.total_cost == weekend_kwh * Decimal("0.22")


@pytest.mark.parametrize("tariff", ["ch-ht-nt", "half-hours", "ch-ht-nt-zh"])
async def test_grouped_and_row_by_row_pricing_agree(
    api: httpx.AsyncClient, raw_api: httpx.AsyncClient, tariff: str
) -> None:
    """Grouped by local date and band segment (no interval, or 1d in the tariff's zone) or priced reading
    by reading / hour by hour (15m or 1h points, points in UTC), from the rollup or the raw rows: one answer."""
    variants = [{}, {"interval": "1d"}, {"interval": "1h"}, {"tz": "UTC", "interval": "1d"}]
    for end, extra_variants in ((FEBRUARY["end"], variants), ("2023-02-20T00:00:00Z", [{}, {"interval": "15m"}])):
        answers = []
        for client in (api, raw_api):
            for extra in extra_variants:
                params = {"tariff": tariff, "start": FEBRUARY["start"], "end": end, **extra}
                body = await get_json(client, f"/v1/meters/{IMPORT_MUID}/cost", **params)
                if "points" in body:
                    assert sum(p["count"] for p in body["points"]) == (2688 if end == FEBRUARY["end"] else 19 * 96)
                answers.append((body["bands"], body["total_cost"], body["total_kwh"]))
        assert all(answer == answers[0] for answer in answers), answers


async def test_cost_by_day_type_splits_the_month_and_compare_gives_the_differences(api: httpx.AsyncClient) -> None:
    base = {"tariff": "ch-ht-nt", "tz": "Europe/Zurich", **FEBRUARY}
    whole = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", **base)
    weekday = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", day_type="weekday", **base)
    weekend = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", day_type="weekend", **base)
    # Weekdays and weekend days partition the month: their kWh add up to the whole, their costs too up to the
    # rounding of each to the cent's hundredth (half-even, 4 places).
    assert dec(weekday["total_kwh"]) + dec(weekend["total_kwh"]) == dec(whole["total_kwh"])
    assert abs(dec(weekday["energy_cost"]) + dec(weekend["energy_cost"]) - dec(whole["energy_cost"])) <= dec(0.0001)
    assert [b["name"] for b in weekend["bands"] if b["kwh"]] == ["low"]  # ch-ht-nt is low all weekend

    compared = await get_json(api, f"/v1/meters/{IMPORT_MUID}/cost", compare="previous", **base)
    CostResponse.model_validate(compared)
    previous = compared["compare"]
    assert previous["mode"] == "previous" and previous["end"] == whole["start"]
    # January holds no readings: the previous period costs nothing and the relative difference is undefined.
    assert previous["total_kwh"] == 0 and previous["difference"]["total_kwh"]["absolute"] == whole["total_kwh"]
    assert previous["difference"]["total_cost"]["relative"] is None
    refused = await api.get(f"/v1/meters/{IMPORT_MUID}/cost", params={**base, "compare": "decade"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "compare"]
