"""Tariffs and pricing, pure: band boundaries in the tariff's zone, DST days of 23 and 25 hours, public
holidays, price changes mid-period, the fixed fee, the shift figure, exact decimals, the balance figures and
the CLI's channel parsing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from meterflow_api.cost import rollup_prices_exactly
from meterflow_api.domain.balance import NO_PRODUCTION, BucketEnergy, balance_of
from meterflow_api.domain.pricing import (
    cost_points,
    exact,
    fixed_fee,
    kwh_shown,
    money_shown,
    price_readings,
    shift_figure,
    summarize,
)
from meterflow_api.domain.tariffs import Tariff, TariffError, parse_days, tariff_from_mapping
from meterflow_api.tariff_store import file_tariffs, tariffs_from_yaml
from meterflow_cli.sites_cmd import KnownChannel, SiteError, default_obis, parse_channel

ZURICH = ZoneInfo("Europe/Zurich")
STEP = timedelta(minutes=15)
SHIPPED = file_tariffs(None)
CH = SHIPPED["ch-ht-nt"]
CH_ZH = SHIPPED["ch-ht-nt-zh"]


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZURICH).astimezone(UTC)


def quarters(start: datetime, end: datetime) -> Iterator[datetime]:
    cursor = start
    while cursor < end:
        yield cursor
        cursor += STEP


def every_day(high: str = "0.30", low: str = "0.20", start: str = "07:00", end: str = "20:00") -> Tariff:
    """High every day (weekends too) from start to end: DST days are Sundays, so ch-ht-nt is all low there."""
    return tariff_from_mapping(
        {
            "name": "every-day",
            "zone": "Europe/Zurich",
            "currency": "CHF",
            "versions": [
                {
                    "valid_from": "2000-01-01",
                    "bands": [
                        {"name": "high", "price": high, "windows": [{"days": "all", "from": start, "to": end}]},
                        {"name": "low", "price": low},
                    ],
                }
            ],
        }
    )


def bands_of(tariff: Tariff, rows: list[tuple[datetime, float]]) -> dict[tuple[str, str], Decimal]:
    return {(b.name, str(b.price)): b.kwh for b in summarize(price_readings(tariff, rows)).bands}


# --- band boundaries -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wall_clock", "band"),
    [
        ("2023-02-06T06:45", "low"),  # Monday: this interval ends at 07:00 but starts before
        ("2023-02-06T07:00", "high"),
        ("2023-02-06T19:45", "high"),
        ("2023-02-06T20:00", "low"),
        ("2023-02-10T12:00", "high"),  # Friday
        ("2023-02-11T12:00", "low"),  # Saturday
        ("2023-02-12T12:00", "low"),  # Sunday
        ("2023-07-03T07:00", "high"),  # summer time: still 07:00 in Zurich (05:00 UTC)
    ],
)
def test_ch_ht_nt_bands_follow_the_zurich_wall_clock(wall_clock: str, band: str) -> None:
    priced = price_readings(CH, [(local(wall_clock), 1.0)])
    assert priced[0].band == band
    assert priced[0].price == {"high": Decimal("0.32"), "low": Decimal("0.22")}[band]


def test_utc_hours_would_be_wrong_in_zurich() -> None:
    # 06:00 UTC on a winter Monday is 07:00 in Zurich: high; the source system's UTC hours said low.
    assert price_readings(CH, [(datetime(2023, 2, 6, 6, 0, tzinfo=UTC), 1.0)])[0].band == "high"
    assert price_readings(CH, [(datetime(2023, 2, 6, 19, 0, tzinfo=UTC), 1.0)])[0].band == "low"


@pytest.mark.parametrize(
    ("day", "next_day", "quarter_hours", "high", "low"),
    [
        ("2023-03-26T00:00", "2023-03-27T00:00", 92, 52, 40),  # spring: 23 hours, 02:00-03:00 does not exist
        ("2023-10-29T00:00", "2023-10-30T00:00", 100, 52, 48),  # autumn: 25 hours, 02:00-03:00 twice
    ],
)
def test_dst_days_price_every_interval_once_in_local_time(
    day: str, next_day: str, quarter_hours: int, high: int, low: int
) -> None:
    rows = [(ts, 0.25) for ts in quarters(local(day), local(next_day))]
    assert len(rows) == quarter_hours
    assert bands_of(every_day(), rows) == {
        ("high", "0.30"): Decimal("0.25") * high,
        ("low", "0.20"): Decimal("0.25") * low,
    }


@pytest.mark.parametrize("day", ["2023-03-26T00:00", "2023-10-29T00:00"])
def test_hourly_totals_price_like_the_quarter_hours_on_dst_days(day: str) -> None:
    start = local(day)
    end = start + timedelta(days=2)
    rows = [(ts, 0.0117 + index * 0.00025) for index, ts in enumerate(quarters(start, end))]
    hourly: dict[datetime, float] = {}
    for ts, value in rows:
        hour = ts.replace(minute=0)
        hourly[hour] = hourly.get(hour, 0.0) + value  # float sums, as the rollup keeps them
    tariff = every_day()
    assert rollup_prices_exactly(tariff, start, end)
    assert bands_of(tariff, sorted(hourly.items())) == bands_of(tariff, rows)


def test_rollup_only_where_band_bounds_are_whole_local_hours() -> None:
    start, end = local("2023-02-01T00:00"), local("2023-03-01T00:00")
    assert rollup_prices_exactly(CH, start, end)
    assert not rollup_prices_exactly(every_day(start="07:30"), start, end)
    assert not rollup_prices_exactly(CH, start + STEP, end)
    kolkata = tariff_from_mapping(
        {
            "name": "in-flat",
            "zone": "Asia/Kolkata",
            "currency": "INR",
            "versions": [{"valid_from": "2000-01-01", "bands": [{"name": "flat", "price": "7"}]}],
        }
    )
    # The zone's offset is 5:30: a UTC hour is two local half hours.
    assert not rollup_prices_exactly(kolkata, datetime(2023, 2, 1, tzinfo=UTC), datetime(2023, 2, 2, tzinfo=UTC))


# --- holidays and versions -----------------------------------------------------------------------------------


def test_zurich_holidays_are_low_all_day_where_the_tariff_says_so() -> None:
    national_day = local("2023-08-01T10:00")  # a Tuesday
    easter_monday = local("2023-04-10T10:00")
    ordinary = local("2023-08-02T10:00")
    assert [p.band for p in price_readings(CH_ZH, [(national_day, 1), (easter_monday, 1), (ordinary, 1)])] == [
        "low",
        "low",
        "high",
    ]
    # ch-ht-nt has no holiday rule: the national day is an ordinary Tuesday.
    assert price_readings(CH, [(national_day, 1)])[0].band == "high"
    assert CH_ZH.holiday_name(national_day.astimezone(ZURICH).date()) == "National Day"


def test_a_price_change_mid_period_splits_the_bands_at_local_midnight() -> None:
    rows = [
        (local("2023-12-29T10:00"), 1.0),  # Friday, 2000 version: high 0.32
        (local("2023-12-31T23:45"), 1.0),  # Sunday: low 0.22
        (local("2024-01-01T00:00"), 1.0),  # New Year (holiday), 2024 version: low 0.24
        (local("2024-01-02T10:00"), 1.0),  # Tuesday: high 0.35
        (local("2024-01-02T10:15"), 2.0),
    ]
    summary = summarize(price_readings(CH_ZH, rows), ["high", "low"])
    assert [(b.name, str(b.price), b.valid_from.isoformat(), b.kwh, b.cost) for b in summary.bands] == [
        ("high", "0.32", "2000-01-01", Decimal("1.000000000"), Decimal("0.32000000000")),
        ("low", "0.22", "2000-01-01", Decimal("1.000000000"), Decimal("0.22000000000")),
        ("high", "0.35", "2024-01-01", Decimal("3.000000000"), Decimal("1.05000000000")),
        ("low", "0.24", "2024-01-01", Decimal("1.000000000"), Decimal("0.24000000000")),
    ]
    assert summary.energy_cost == Decimal("1.83")


def test_the_monthly_fee_is_charged_pro_rata_by_local_days() -> None:
    assert fixed_fee(CH_ZH, local("2023-02-01T00:00"), local("2023-03-01T00:00")) == Decimal("5.00")
    assert fixed_fee(CH_ZH, local("2023-02-01T00:00"), local("2023-02-15T00:00")) == Decimal("2.5")
    # March 2023 has a 23-hour day, still one whole day of the month.
    assert fixed_fee(CH_ZH, local("2023-03-01T00:00"), local("2023-04-01T00:00")) == Decimal("5.00")
    # A year across the price change: 12 x 5.00 and then 1 x 5.50.
    assert fixed_fee(CH_ZH, local("2023-01-01T00:00"), local("2024-02-01T00:00")) == Decimal("65.50")
    assert fixed_fee(CH, local("2023-02-01T00:00"), local("2023-03-01T00:00")) == 0


# --- money without binary noise ------------------------------------------------------------------------------


def test_sums_are_exact_decimals_without_binary_noise() -> None:
    values = [0.1, 0.2, 0.035500000000000004, 0.0117]
    assert 0.1 + 0.2 == 0.30000000000000004  # what float addition gives
    assert sum((exact(v) for v in values), Decimal(0)) == Decimal("0.3472")
    assert kwh_shown(exact(0.1 + 0.2)) == 0.3
    assert money_shown(Decimal("0.123450")) == 0.1234  # half-even
    assert money_shown(Decimal("0.123451")) == 0.1235


def test_the_shift_figure_moves_a_share_of_high_band_energy_to_the_low_price() -> None:
    rows = [(local("2023-02-06T10:00"), 2.0), (local("2023-02-06T22:00"), 1.0)]
    priced = price_readings(CH, rows)
    summary = summarize(priced)
    assert summary.energy_cost == Decimal("0.86")  # 2 x 0.32 + 1 x 0.22
    shift = shift_figure(priced, Decimal("0.25"), summary.energy_cost)
    assert shift.shifted_kwh == Decimal("0.5")
    assert shift.saving == Decimal("0.05")  # 0.5 kWh x (0.32 - 0.22)
    assert shift.cost == Decimal("0.81")
    assert shift_figure(priced, Decimal(0), summary.energy_cost).saving == 0


def test_points_sum_to_the_totals() -> None:
    start = local("2023-03-25T00:00")
    rows = [(ts, 0.0123) for ts in quarters(start, local("2023-03-28T00:00"))]
    priced = price_readings(every_day(), rows)
    edges = [local("2023-03-25T00:00"), local("2023-03-26T00:00"), local("2023-03-27T00:00"), local("2023-03-28T00:00")]
    points = cost_points(priced, edges)
    assert [p.readings for p in points] == [96, 92, 96]
    summary = summarize(priced)
    assert sum((p.kwh for p in points), Decimal(0)) == summary.total_kwh
    assert sum((p.cost for p in points), Decimal(0)) == summary.energy_cost


# --- definitions ---------------------------------------------------------------------------------------------


def test_the_shipped_tariffs() -> None:
    assert CH.zone.key == "Europe/Zurich"
    assert CH.currency == "CHF"
    assert [(b.name, b.price) for b in CH.versions[0].bands] == [("high", Decimal("0.32")), ("low", Decimal("0.22"))]
    assert CH.whole_hours
    assert parse_days("x", "mon-fri") == frozenset(range(5))
    assert parse_days("x", "sat,sun") == frozenset({5, 6})
    assert parse_days("x", "fri-mon") == frozenset({4, 5, 6, 0})


def _one_version(bands: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "name": "t",
        "zone": "Europe/Zurich",
        "currency": "CHF",
        "versions": [{"valid_from": "2023-01-01", "bands": bands}],
        **extra,
    }


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (_one_version([{"name": "a", "price": "1", "windows": [{"days": "mon-fri", "from": "00:00", "to": "24:00"}]}]),
         "sat 00:00 is in no band"),
        (_one_version([{"name": "a", "price": "1"}, {"name": "b", "price": "2"}]), "only one band may go without"),
        (_one_version([{"name": "a", "price": "-1"}]), "price must be a number >= 0"),
        (_one_version([{"name": "a", "price": "1"}], zone="Europe/Zurch"), "is not an IANA time zone"),
        (_one_version([{"name": "a", "price": "1"}], holidays={"country": "CH", "subdivision": "XX", "band": "a"}),
         "holidays"),
        (_one_version([{"name": "a", "price": "1"}], holidays={"country": "CH", "band": "b"}), "is not a band"),
        (_one_version([{"name": "a", "price": "1", "windows": [{"days": "mon", "from": "20:00", "to": "07:00"}]},
                       {"name": "b", "price": "1"}]), "must end after it starts"),
    ],
)  # fmt: skip
def test_bad_definitions_say_what_to_fix(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(TariffError, match=message):
        tariff_from_mapping(definition)


def test_a_yaml_file_with_a_tariff_twice_is_refused() -> None:
    entry = (
        "  - {name: a, zone: UTC, currency: EUR, versions: [{valid_from: 2023-01-01, bands: [{name: x, price: 1}]}]}\n"
    )
    assert "a" in tariffs_from_yaml("tariffs:\n" + entry, "test.yaml")
    with pytest.raises(TariffError, match="defined twice"):
        tariffs_from_yaml("tariffs:\n" + entry + entry, "test.yaml")


# --- balance -------------------------------------------------------------------------------------------------


def _buckets(*values: str | None) -> list[BucketEnergy]:
    start = datetime(2023, 2, 1, tzinfo=UTC)
    day = timedelta(days=1)
    return [
        BucketEnergy(start + i * day, start + (i + 1) * day, None if v is None else Decimal(v), 0 if v is None else 4)
        for i, v in enumerate(values)
    ]


def test_balance_without_production_names_what_it_cannot_say() -> None:
    balance = balance_of(datetime(2023, 2, 1, tzinfo=UTC), datetime(2023, 2, 3, tzinfo=UTC), {
        "import": _buckets("3.5", "2.25"),
        "export": _buckets("1.0", None),
    })  # fmt: skip
    assert balance.totals == {"import_kwh": 5.75, "export_kwh": 1.0, "net_kwh": 4.75}
    assert [dict(p, start=None, end=None) for p in balance.points] == [
        {"start": None, "end": None, "import_kwh": 3.5, "export_kwh": 1.0, "net_kwh": 2.5},
        {"start": None, "end": None, "import_kwh": 2.25, "export_kwh": None, "net_kwh": None},
    ]
    assert balance.unavailable == {
        "production_kwh": NO_PRODUCTION,
        "self_consumption_kwh": NO_PRODUCTION,
        "self_consumption_rate": NO_PRODUCTION,
        "self_sufficiency": NO_PRODUCTION,
    }


def test_balance_with_production() -> None:
    balance = balance_of(datetime(2023, 2, 1, tzinfo=UTC), datetime(2023, 2, 3, tzinfo=UTC), {
        "import": _buckets("3", "4"),
        "export": _buckets("1", "0"),
        "production": _buckets("4", "0"),
    }, {"heat_pump": _buckets("1.5", "2")})  # fmt: skip
    assert balance.unavailable == {}
    assert balance.totals == {
        "import_kwh": 7.0,
        "export_kwh": 1.0,
        "net_kwh": 6.0,
        "production_kwh": 4.0,
        "self_consumption_kwh": 3.0,
        "self_consumption_rate": 0.75,
        "self_sufficiency": 0.3,  # 3 / (7 + 3)
        "submeters": {"heat_pump": 3.5},
    }
    assert balance.points[1]["self_consumption_rate"] is None  # nothing produced: no rate, not 0
    assert balance.points[0]["self_sufficiency"] == 0.5  # 3 / (3 + 3)


def test_a_production_channel_without_readings_is_unavailable_with_that_reason() -> None:
    reason = "the production channel has no readings"
    balance = balance_of(datetime(2023, 2, 1, tzinfo=UTC), datetime(2023, 2, 2, tzinfo=UTC), {
        "import": _buckets("3"), "export": _buckets("1"), "production": reason,
    })  # fmt: skip
    assert balance.unavailable["production_kwh"] == reason
    assert balance.unavailable["self_sufficiency"] == reason
    assert "production_kwh" not in balance.totals


# --- CLI -----------------------------------------------------------------------------------------------------


def test_site_channels_on_the_command_line() -> None:
    muid = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
    assert parse_channel("import", f"{muid}:0100011D00FF").obis == "1-0:1.29.0*255"
    assert parse_channel("export", muid).obis is None
    heat_pump = parse_channel("submeter", f"heat_pump={muid}:1.29.0")
    assert (heat_pump.label, heat_pump.obis) == ("heat_pump", "1-0:1.29.0*255")
    with pytest.raises(SiteError, match="LABEL=MUID"):
        parse_channel("submeter", muid)
    with pytest.raises(SiteError, match="not a meter id"):
        parse_channel("import", "nope")


def test_default_channels_come_from_the_channels_table() -> None:
    both = [
        KnownChannel("1-0:1.29.0*255", "active_energy", "import"),
        KnownChannel("1-0:2.29.0*255", "active_energy", "export"),
    ]
    assert default_obis("import", both) == "1-0:1.29.0*255"
    assert default_obis("export", both) == "1-0:2.29.0*255"
    assert default_obis("production", both) == "1-0:2.29.0*255"
    assert default_obis("production", both[:1]) == "1-0:1.29.0*255"
    assert default_obis("export", []) == "1-0:2.29.0*255"
    assert default_obis("submeter", [KnownChannel("1-0:1.8.0*255", "active_energy_total", "import")]) == "1-0:1.8.0*255"


def test_the_api_refuses_to_start_with_an_unusable_tariffs_file(tmp_path: Any) -> None:
    from meterflow_api.config import Settings
    from pydantic import ValidationError

    good = tmp_path / "good.yaml"
    versions = "[{valid_from: 2023-01-01, bands: [{name: x, price: '0.3'}]}]"
    good.write_text(f"tariffs:\n  - {{name: flat, zone: UTC, currency: EUR, versions: {versions}}}\n")
    assert Settings(database_url="postgresql://u:p@h/db", tariffs={"file": good}).tariffs.file == good
    bad = tmp_path / "bad.yaml"
    bad.write_text("tariffs:\n  - {name: flat, zone: Mars/Base, currency: EUR, versions: []}\n")
    with pytest.raises(ValidationError, match="Mars/Base"):
        Settings(database_url="postgresql://u:p@h/db", tariffs={"file": bad})
    with pytest.raises(ValidationError, match="cannot be read"):
        Settings(database_url="postgresql://u:p@h/db", tariffs={"file": tmp_path / "missing.yaml"})
