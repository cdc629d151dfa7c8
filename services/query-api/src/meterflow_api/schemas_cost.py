"""Response models of the tariffs, cost and sites endpoints (issue 14): they document the API (OpenAPI, with
real answers on the February 2023 sample files as examples) and the tests validate real answers against them.
Kept beside ``schemas`` (which holds the other resources') so each stays a readable size.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from meterflow_api.schemas_insights import Difference

IMPORT_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
EXPORT_MUID = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


# --- tariffs --------------------------------------------------------------------------------------------------


_CH_HT_NT_BANDS = [
    {"name": "high", "price": 0.32, "windows": [{"days": "mon-fri", "from": "07:00", "to": "20:00"}]},
    {"name": "low", "price": 0.22, "windows": []},
]
_CH_HT_NT = {
    "name": "ch-ht-nt",
    "description": "Swiss high/low tariff: high Mon-Fri 07:00-20:00 Europe/Zurich, low at all other times",
    "zone": "Europe/Zurich",
    "currency": "CHF",
    "source": "file",
    "holidays": None,
    "versions": [
        {
            "valid_from": "2000-01-01",
            "fixed_monthly_fee": 0.0,
            "feed_in_price": 0.0,
            "bands": _CH_HT_NT_BANDS,
        }
    ],
}


class TariffWindow(_Model):
    days: str = Field(description="Weekdays: mon..sun, a range (mon-fri) or a list (sat,sun).", examples=["mon-fri"])
    from_: str = Field(alias="from", description="Local start HH:MM (inclusive).", examples=["07:00"])
    to: str = Field(description="Local end HH:MM (exclusive; 24:00 ends the day).", examples=["20:00"])


class TariffBand(_Model):
    name: str = Field(description="Band name.", examples=["high"])
    price: float = Field(description="Price per kWh in the tariff's currency.", examples=[0.32])
    windows: list[TariffWindow] = Field(
        description="When the band applies; empty: at every time no other band's window holds.",
        examples=[[{"days": "mon-fri", "from": "07:00", "to": "20:00"}]],
    )


class TariffVersionInfo(_Model):
    valid_from: date = Field(description="Local date from whose midnight the version applies.", examples=["2000-01-01"])
    fixed_monthly_fee: float = Field(description="Fee per calendar month (charged pro rata).", examples=[0.0])
    feed_in_price: float = Field(description="Paid per exported kWh.", examples=[0.0])
    bands: list[TariffBand] = Field(description="The bands of this version.", examples=[_CH_HT_NT_BANDS])


class HolidaysInfo(_Model):
    country: str = Field(description="ISO 3166-1 alpha-2 country.", examples=["CH"])
    subdivision: str | None = Field(description="Subdivision (canton, state), or null.", examples=["ZH"])
    band: str = Field(description="Band that applies all day on a public holiday.", examples=["low"])


class TariffInfo(_Model):
    model_config = _example(_CH_HT_NT)

    name: str = Field(description="Tariff name (the tariff= parameter).", examples=["ch-ht-nt"])
    description: str = Field(description="What it is.", examples=["Swiss high/low tariff"])
    zone: str = Field(description="IANA zone in which bands and validity dates are read.", examples=["Europe/Zurich"])
    currency: str = Field(description="ISO 4217 currency of every price.", examples=["CHF"])
    source: str = Field(description="file (tariffs.yaml) or table (the tariffs table).", examples=["file"])
    holidays: HolidaysInfo | None = Field(
        description="Public holidays priced in one band; null: none.",
        examples=[{"country": "CH", "subdivision": "ZH", "band": "low"}],
    )
    versions: list[TariffVersionInfo] = Field(
        description="Price versions by valid_from.", examples=[_CH_HT_NT["versions"]]
    )


class TariffsResponse(_Model):
    model_config = _example({"tariffs": [_CH_HT_NT]})

    tariffs: list[TariffInfo] = Field(description="Every tariff, by name.", examples=[[_CH_HT_NT]])


_BAND_COST = {"name": "high", "kwh": 35.9763, "cost": 11.5124, "price": 0.32, "valid_from": "2000-01-01"}
_SHIFT = {"share": 0.2, "shifted_kwh": 7.19526, "cost": 24.3416, "saving": 0.7195}
_COST_POINT = {
    "start": "2023-02-01T00:00:00+01:00",
    "end": "2023-02-02T00:00:00+01:00",
    "kwh": 1.8299,
    "cost": 0.5233,
    "count": 92,
}

# --- cost -----------------------------------------------------------------------------------------------------


class BandCost(_Model):
    name: str = Field(description="Band (feed_in for an export channel).", examples=["high"])
    kwh: float = Field(description="Energy in the band (6 decimal places).", examples=[35.9763])
    cost: float = Field(description="kwh x price (4 decimal places, rounded half-even).", examples=[11.5124])
    price: float = Field(description="Price per kWh (negative for feed-in: paid to the site).", examples=[0.32])
    valid_from: date = Field(description="The tariff version the price belongs to.", examples=["2000-01-01"])


class ShiftFigure(_Model):
    share: float = Field(description="The share asked for.", examples=[0.2])
    shifted_kwh: float = Field(description="kWh moved from higher bands into the low band.", examples=[7.19526])
    cost: float = Field(description="Energy cost after the shift.", examples=[24.3416])
    saving: float = Field(description="energy_cost - cost.", examples=[0.7195])


class CostPointInfo(_Model):
    start: datetime = Field(description="Bucket start in tz.", examples=["2023-02-01T00:00:00+01:00"])
    end: datetime = Field(description="Bucket end (exclusive) in tz.", examples=["2023-02-02T00:00:00+01:00"])
    kwh: float | None = Field(description="Energy in the bucket; null without readings.", examples=[1.8299])
    cost: float | None = Field(description="Its energy cost; null without readings.", examples=[0.5233])
    count: int = Field(description="Readings priced in the bucket.", examples=[92])


class CostComparison(_Model):
    mode: str = Field(description="previous or year.", examples=["previous"])
    start: datetime = Field(description="Start of the compared period.", examples=["2023-01-04T00:00:00+01:00"])
    end: datetime = Field(description="End (exclusive) of the compared period.", examples=["2023-02-01T00:00:00+01:00"])
    total_kwh: float = Field(description="Energy in the compared period.", examples=[101.4406])
    total_cost: float = Field(description="Its cost under the same tariff.", examples=[26.1012])
    difference: dict[str, Difference] = Field(
        description="total_kwh and total_cost: this period minus the compared one, absolute and relative.",
        examples=[{"total_cost": {"absolute": -1.0401, "relative": -0.0398}}],
    )


class CostResponse(_Model):
    model_config = _example(
        {
            "muid": IMPORT_MUID,
            "obis": "1-0:1.29.0*255",
            "tariff": "ch-ht-nt",
            "kind": "import",
            "currency": "CHF",
            "tz": "Europe/Zurich",
            "start": "2023-02-01T00:00:00+01:00",
            "end": "2023-03-01T00:00:00+01:00",
            "total_kwh": 97.5612,
            "total_cost": 25.0611,
            "energy_cost": 25.0611,
            "fixed_fee": 0.0,
            "bands": [
                _BAND_COST,
                {"name": "low", "kwh": 61.5849, "cost": 13.5487, "price": 0.22, "valid_from": "2000-01-01"},
            ],
            "shift": _SHIFT,
            "points": [_COST_POINT],
        }
    )

    muid: UUID = Field(description="Meter id.", examples=[IMPORT_MUID])
    obis: str = Field(description="Normalized OBIS code of the channel priced.", examples=["1-0:1.29.0*255"])
    tariff: str = Field(description="Tariff name.", examples=["ch-ht-nt"])
    kind: str = Field(description="import (priced by the bands) or export (by the feed-in price).", examples=["import"])
    currency: str = Field(description="Currency of every amount.", examples=["CHF"])
    tz: str = Field(description="Zone of start, end and the points.", examples=["Europe/Zurich"])
    start: datetime = Field(description="Start of the range priced.", examples=["2023-02-01T00:00:00+01:00"])
    end: datetime = Field(description="End (exclusive) of the range priced.", examples=["2023-03-01T00:00:00+01:00"])
    total_kwh: float = Field(description="Energy of the range.", examples=[97.5612])
    total_cost: float = Field(description="energy_cost + fixed_fee.", examples=[25.0611])
    energy_cost: float = Field(description="Sum over the bands (negative for export).", examples=[25.0611])
    fixed_fee: float = Field(description="The monthly fee pro rata over the range (import only).", examples=[0.0])
    bands: list[BandCost] = Field(
        description="Per band and price, by version and the tariff's band order.", examples=[[_BAND_COST]]
    )
    shift: ShiftFigure | None = Field(
        None, description="Only with shift=: the period's cost after the shift.", examples=[_SHIFT]
    )
    points: list[CostPointInfo] | None = Field(
        None, description="Only with interval=: kWh and cost per bucket.", examples=[[_COST_POINT]]
    )
    compare: CostComparison | None = Field(
        None, description="With compare=: the compared period's cost and the differences.", examples=[None]
    )


# --- sites ----------------------------------------------------------------------------------------------------


class SiteChannelInfo(_Model):
    role: str = Field(description="import, export, production or submeter.", examples=["import"])
    label: str | None = Field(description="The sub-meter's name; null for the other roles.", examples=[None])
    muid: UUID = Field(description="Meter id.", examples=[IMPORT_MUID])
    obis: str = Field(description="Normalized OBIS code.", examples=["1-0:1.29.0*255"])


_SITE = {
    "name": "demo-home",
    "tenant": "demo",
    "created_at": "2023-03-01T08:00:00+00:00",
    "channels": [
        {"role": "import", "label": None, "muid": IMPORT_MUID, "obis": "1-0:1.29.0*255"},
        {"role": "export", "label": None, "muid": EXPORT_MUID, "obis": "1-0:2.29.0*255"},
    ],
}


class SiteInfo(_Model):
    model_config = _example(_SITE)

    name: str = Field(description="Site name.", examples=["demo-home"])
    tenant: str = Field(description="Owning tenant.", examples=["demo"])
    created_at: datetime = Field(description="When it was created.", examples=["2023-03-01T08:00:00+00:00"])
    channels: list[SiteChannelInfo] = Field(
        description="Channels by role (import, export, production, submeter).", examples=[_SITE["channels"]]
    )


class SitesResponse(_Model):
    model_config = _example({"sites": [_SITE]})

    sites: list[SiteInfo] = Field(description="The caller's sites, by name.", examples=[[_SITE]])


class BalanceFigures(_Model):
    model_config = ConfigDict(extra="forbid")

    start: datetime | None = Field(
        None, description="Bucket start in tz (points only).", examples=["2023-02-01T00:00:00+01:00"]
    )
    end: datetime | None = Field(
        None, description="Bucket end (exclusive) in tz (points only).", examples=["2023-02-02T00:00:00+01:00"]
    )
    import_kwh: float | None = Field(None, description="Energy from the grid.", examples=[97.5612])
    export_kwh: float | None = Field(None, description="Energy to the grid.", examples=[36.19725])
    net_kwh: float | None = Field(None, description="import_kwh - export_kwh.", examples=[61.36395])
    production_kwh: float | None = Field(
        None, description="PV production (production channel only).", examples=[72.3945]
    )
    self_consumption_kwh: float | None = Field(None, description="production_kwh - export_kwh.", examples=[36.19725])
    self_consumption_rate: float | None = Field(
        None, description="self_consumption_kwh / production_kwh.", examples=[0.5]
    )
    self_sufficiency: float | None = Field(
        None, description="self_consumption_kwh / (import_kwh + self_consumption_kwh): autarky.", examples=[0.270617]
    )
    submeters: dict[str, float | None] | None = Field(
        None, description="kWh per sub-meter label.", examples=[{"heat_pump": 41.25}]
    )


class BalanceResponse(_Model):
    model_config = _example(
        {
            "site": "demo-home",
            "tz": "Europe/Zurich",
            "interval": "1mo",
            "start": "2023-02-01T00:00:00+01:00",
            "end": "2023-03-01T00:00:00+01:00",
            "totals": {"import_kwh": 97.5612, "export_kwh": 36.19725, "net_kwh": 61.36395},
            "points": [
                {
                    "start": "2023-02-01T00:00:00+01:00",
                    "end": "2023-03-01T00:00:00+01:00",
                    "import_kwh": 97.5612,
                    "export_kwh": 36.19725,
                    "net_kwh": 61.36395,
                }
            ],
            "unavailable": {
                "production_kwh": "the site has no production channel: an export meter measures what leaves for "
                "the grid, not what the panels produce (add one with meterflow sites create ... --production "
                "MUID[:OBIS])"
            },
        }
    )

    site: str = Field(description="Site name.", examples=["demo-home"])
    tz: str = Field(description="Zone of the buckets.", examples=["Europe/Zurich"])
    interval: str = Field(description="Bucket size.", examples=["1d"])
    start: datetime = Field(description="Start of the range.", examples=["2023-02-01T00:00:00+01:00"])
    end: datetime = Field(description="End (exclusive) of the range.", examples=["2023-03-01T00:00:00+01:00"])
    totals: BalanceFigures = Field(
        description="The figures over the whole range.",
        examples=[{"import_kwh": 97.5612, "export_kwh": 36.19725, "net_kwh": 61.36395}],
    )
    points: list[BalanceFigures] = Field(
        description="The figures per bucket (null where a channel has no reading).",
        examples=[[{"start": "2023-02-01T00:00:00+01:00", "end": "2023-02-02T00:00:00+01:00", "import_kwh": 1.8299}]],
    )
    unavailable: dict[str, str] = Field(
        description="Figures the site's channels cannot support, with the reason.",
        examples=[{"production_kwh": "the site has no production channel: ..."}],
    )


_SITE_COST_PART = {
    "muid": IMPORT_MUID,
    "obis": "1-0:1.29.0*255",
    "total_kwh": 97.5612,
    "total_cost": 30.0611,
    "energy_cost": 25.0611,
    "fixed_fee": 5.0,
    "bands": [
        _BAND_COST,
        {"name": "low", "kwh": 61.5849, "cost": 13.5487, "price": 0.22, "valid_from": "2000-01-01"},
    ],
}
_SITE_COST_POINT = {
    "start": "2023-02-01T00:00:00+01:00",
    "end": "2023-02-02T00:00:00+01:00",
    "import_kwh": 1.8299,
    "export_kwh": 2.07875,
    "import_cost": 0.5233,
    "export_remuneration": 0.2702,
    "net_cost": 0.253,
}


class SiteCostPart(_Model):
    muid: UUID = Field(description="Meter id.", examples=[IMPORT_MUID])
    obis: str = Field(description="Normalized OBIS code.", examples=["1-0:1.29.0*255"])
    total_kwh: float = Field(description="Energy of the channel.", examples=[97.5612])
    total_cost: float = Field(description="Its cost (negative for export: remuneration).", examples=[30.0611])
    energy_cost: float = Field(description="Sum over the bands.", examples=[25.0611])
    fixed_fee: float = Field(description="Monthly fee pro rata (import only).", examples=[5.0])
    bands: list[BandCost] = Field(description="Per band and price.", examples=[[_BAND_COST]])
    remuneration: float | None = Field(
        None, description="Export only: what the feed-in price pays (positive).", examples=[4.7056]
    )
    shift: ShiftFigure | None = Field(
        None, description="Import only, with shift=: the saving had that share run in the low band.", examples=[None]
    )


class SiteCostPoint(_Model):
    start: datetime = Field(description="Bucket start in tz.", examples=["2023-02-01T00:00:00+01:00"])
    end: datetime = Field(description="Bucket end (exclusive) in tz.", examples=["2023-02-02T00:00:00+01:00"])
    import_kwh: float | None = Field(description="Imported energy; null without readings.", examples=[1.8299])
    export_kwh: float | None = Field(description="Exported energy; null without readings.", examples=[2.07875])
    import_cost: float | None = Field(description="Energy cost of the import.", examples=[0.5233])
    export_remuneration: float | None = Field(description="Feed-in remuneration of the export.", examples=[0.2702])
    net_cost: float = Field(description="import_cost - export_remuneration (fixed fee not included).", examples=[0.253])


class SiteCostResponse(_Model):
    model_config = _example(
        {
            "site": "demo-home",
            "tariff": "ch-ht-nt-zh",
            "currency": "CHF",
            "tz": "Europe/Zurich",
            "start": "2023-02-01T00:00:00+01:00",
            "end": "2023-03-01T00:00:00+01:00",
            "total_kwh": 97.5612,
            "total_cost": 25.3555,
            "import": _SITE_COST_PART,
            "export": {
                **_SITE_COST_PART,
                "muid": EXPORT_MUID,
                "obis": "1-0:2.29.0*255",
                "total_kwh": 36.19725,
                "total_cost": -4.7056,
                "energy_cost": -4.7056,
                "fixed_fee": 0.0,
                "bands": [
                    {"name": "feed_in", "kwh": 36.19725, "cost": -4.7056, "price": -0.13, "valid_from": "2000-01-01"}
                ],
                "remuneration": 4.7056,
            },
        }
    )

    site: str = Field(description="Site name.", examples=["demo-home"])
    tariff: str = Field(description="Tariff name.", examples=["ch-ht-nt-zh"])
    currency: str = Field(description="Currency.", examples=["CHF"])
    tz: str = Field(description="Zone of start, end and points.", examples=["Europe/Zurich"])
    start: datetime = Field(description="Start of the range.", examples=["2023-02-01T00:00:00+01:00"])
    end: datetime = Field(description="End (exclusive) of the range.", examples=["2023-03-01T00:00:00+01:00"])
    total_kwh: float = Field(description="Imported energy.", examples=[97.5612])
    total_cost: float = Field(description="Import total_cost - export remuneration.", examples=[25.3555])
    import_: SiteCostPart | None = Field(
        alias="import", description="The import channel's cost.", examples=[_SITE_COST_PART]
    )
    export: SiteCostPart | None = Field(
        description="The export channel's remuneration.", examples=[{**_SITE_COST_PART, "remuneration": 4.7056}]
    )
    points: list[SiteCostPoint] | None = Field(None, description="Only with interval=.", examples=[[_SITE_COST_POINT]])
