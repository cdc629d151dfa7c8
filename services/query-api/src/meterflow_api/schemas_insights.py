"""Response models of the multi-channel series, profile patterns, comparisons, insights, overview and fleet
routes (the rest are in schemas.py): they document the API and the tests validate real answers with them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

MUID_EXAMPLE = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Point(_Model):
    start: datetime = Field(description="Bucket start in tz.", examples=["2023-02-01T00:00:00+01:00"])
    end: datetime = Field(description="Bucket end (exclusive) in tz.", examples=["2023-02-02T00:00:00+01:00"])
    value: float | None = Field(description="The aggregate; null when the bucket is empty.", examples=[1.8299])
    count: int = Field(description="Readings in the bucket.", examples=[92])


class ChannelSeries(_Model):
    obis: str = Field(description="Normalized OBIS code.", examples=["1-0:1.29.0*255"])
    quantity: str = Field(description="What is measured.", examples=["active_energy"])
    direction: str | None = Field(description="import, export, ... or null.", examples=["import"])
    unit: str | None = Field(description="Unit of value (null for agg=count).", examples=["kWh"])
    points: list[_Point] = Field(
        description="Every bucket, oldest first, gaps included.",
        examples=[
            [{"start": "2023-02-01T00:00:00+01:00", "end": "2023-02-02T00:00:00+01:00", "value": 1.8299, "count": 92}]
        ],
    )


class MultiSeriesResponse(_Model):
    """Several channels of a meter (obis repeated, or omitted on a meter with several channels)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "muid": MUID_EXAMPLE,
                    "interval": "1d",
                    "agg": "sum",
                    "tz": "Europe/Zurich",
                    "channels": [
                        {
                            "obis": "1-0:1.29.0*255",
                            "quantity": "active_energy",
                            "direction": "import",
                            "unit": "kWh",
                            "points": [
                                {
                                    "start": "2023-02-01T00:00:00+01:00",
                                    "end": "2023-02-02T00:00:00+01:00",
                                    "value": 1.8299,
                                    "count": 92,
                                }
                            ],
                        }
                    ],
                }
            ]
        },
    )

    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    interval: str = Field(description="Bucket size.", examples=["1d"])
    agg: str = Field(description="Aggregate of each bucket.", examples=["sum"])
    tz: str = Field(description="Time zone of the buckets.", examples=["Europe/Zurich"])
    channels: list[ChannelSeries] = Field(
        description="One series per channel, by OBIS code.",
        examples=[
            [
                {
                    "obis": "1-0:1.29.0*255",
                    "quantity": "active_energy",
                    "direction": "import",
                    "unit": "kWh",
                    "points": [],
                }
            ]
        ],
    )


class Pattern(_Model):
    n: int = Field(description="Clock hours in the group.", examples=[4])
    mean: float = Field(description="Mean energy per clock hour.", examples=[0.1561])
    std: float | None = Field(description="Sample standard deviation; null for one hour.", examples=[0.0412])
    min: float = Field(description="Smallest hour.", examples=[0.0921])
    max: float = Field(description="Largest hour.", examples=[0.2034])
    p10: float = Field(description="10th percentile (continuous).", examples=[0.1002])
    p50: float = Field(description="Median.", examples=[0.1522])
    p90: float = Field(description="90th percentile.", examples=[0.1987])


class Patterns(_Model):
    unit: str | None = Field(description="Unit of the hourly energy.", examples=["kWh"])
    by_hour: list[Pattern | None] = Field(
        description="Per hour of day 0..23 in tz; null where no hour falls.",
        min_length=24,
        max_length=24,
        examples=[[None] * 24],
    )
    weekday_hour: list[list[Pattern | None]] = Field(
        description="7 rows (Monday first) of 24 hours; null where no hour falls.",
        min_length=7,
        max_length=7,
        examples=[[[None] * 24] * 7],
    )


class Difference(_Model):
    absolute: float | None = Field(description="current - previous.", examples=[-3.2])
    relative: float | None = Field(
        description="(current - previous) / previous; null when previous is 0.", examples=[-0.0316]
    )


class StatsComparison(_Model):
    mode: str = Field(description="previous or year.", examples=["previous"])
    start: datetime = Field(description="Start of the compared period.", examples=["2023-01-04T00:00:00+00:00"])
    end: datetime = Field(description="End (exclusive) of the compared period.", examples=["2023-02-01T00:00:00Z"])
    interval_s: int = Field(description="The channel's interval in seconds.", examples=[900])
    total: float | None = Field(description="Sum of the values in the compared period.", examples=[101.4406])
    mean: float | None = Field(description="Mean interval value.", examples=[0.0377])
    min: dict[str, Any] = Field(description="Smallest value and when.", examples=[{"value": 0.011, "at": None}])
    max: dict[str, Any] = Field(description="Largest value and when.", examples=[{"value": 0.9, "at": None}])
    base_load: float | None = Field(description="10th percentile of the interval values.", examples=[0.0121])
    peak_hour: int | None = Field(description="Hour of day with the highest mean.", examples=[18])
    count: int = Field(description="Readings in the compared period.", examples=[2688])
    expected: int = Field(description="Intervals in the compared period.", examples=[2688])
    coverage: float | None = Field(description="count / expected.", examples=[1.0])
    difference: dict[str, Difference] = Field(
        description="Per figure (total, mean, base_load, count, coverage): this period minus the compared one.",
        examples=[{"total": {"absolute": -3.8324, "relative": -0.0378}}],
    )


def _example(example: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


_BASE_LOAD = {"kw": 0.0471, "hour": 3, "sentence": "Your base load is 0.05 kW."}
_UNAVAILABLE = {"pv_window": "the meter has no active energy export channel (a consumption meter is not a PV meter)"}
_INSIGHTS_EXAMPLE: dict[str, Any] = {"base_load": _BASE_LOAD, "unavailable": _UNAVAILABLE}
_RANGE = {"start": "2023-02-01T00:00:00+01:00", "end": "2023-03-01T00:00:00+01:00"}


class Insights(_Model):
    """Each insight carries its figures and a one-line sentence; what the meter's channels cannot support is
    left out and named in unavailable with the reason."""

    base_load: dict[str, Any] | None = Field(
        None, description="kw: lowest mean energy per night hour (00-06) in kW; hour: which.", examples=[_BASE_LOAD]
    )
    standby: dict[str, Any] | None = Field(
        None,
        description="kwh: base load x hours with readings; share: that / consumption.",
        examples=[{"kwh": 31.65, "share": 0.324, "sentence": "Your base load of 0.05 kW is 32 % of your consumption."}],
    )
    peak_hours: dict[str, Any] | None = Field(
        None,
        description="hours: the 3 hours of day (in tz) with the highest mean energy; kwh: those means.",
        examples=[{"hours": [18, 19, 12], "kwh": [0.31, 0.29, 0.25], "sentence": "You use the most energy ..."}],
    )
    weekday_weekend: dict[str, Any] | None = Field(
        None,
        description="Mean energy per day Monday-Friday vs Saturday-Sunday, their ratio and hourly shapes (24).",
        examples=[{"weekday_kwh_per_day": 3.4, "weekend_kwh_per_day": 3.6, "ratio": 1.06}],
    )
    unusual_days: dict[str, Any] | None = Field(
        None,
        description="days: the 3 days farthest from their weekday's usual hourly shape (robust z-score).",
        examples=[{"days": [{"date": "2023-02-08", "weekday": "Wednesday", "z": 4.1, "unusual": True}]}],
    )
    pv_window: dict[str, Any] | None = Field(
        None,
        description="first/last: earliest start and latest end of non-zero export (local HH:MM); days: per day.",
        examples=[{"first": "07:15", "last": "17:45", "days": []}],
    )
    unavailable: dict[str, str] = Field(
        description="Insight name -> why it cannot be computed.", examples=[_UNAVAILABLE]
    )


class InsightsResponse(_Model):
    model_config = _example(
        {
            "muid": MUID_EXAMPLE,
            "tz": "Europe/Zurich",
            **_RANGE,
            "consumption_obis": "1-0:1.29.0*255",
            "export_obis": None,
            "insights": _INSIGHTS_EXAMPLE,
        }
    )

    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    tz: str = Field(description="Time zone of hours and days.", examples=["Europe/Zurich"])
    start: datetime = Field(description="Start of the range.", examples=[_RANGE["start"]])
    end: datetime = Field(description="End (exclusive) of the range.", examples=[_RANGE["end"]])
    consumption_obis: str | None = Field(
        description="The import channel of the consumption insights; null without one.", examples=["1-0:1.29.0*255"]
    )
    export_obis: str | None = Field(
        description="The export channel of the PV window; null without one.", examples=["1-0:2.29.0*255"]
    )
    insights: Insights = Field(description="The insights.", examples=[_INSIGHTS_EXAMPLE])


class OverviewChannel(_Model):
    obis: str = Field(description="Normalized OBIS code.", examples=["1-0:1.29.0*255"])
    quantity: str = Field(description="What is measured.", examples=["active_energy"])
    direction: str | None = Field(description="import, export, ... or null.", examples=["import"])
    unit: str | None = Field(description="Unit of the values.", examples=["kWh"])
    stats: dict[str, Any] = Field(
        description="The figures of GET /stats for the range.", examples=[{"total": 97.6082, "count": 2688}]
    )
    daily: list[_Point] = Field(
        description="Daily sums in tz (GET /series?interval=1d).",
        examples=[
            [{"start": "2023-02-01T00:00:00+01:00", "end": "2023-02-02T00:00:00+01:00", "value": 1.8299, "count": 92}]
        ],
    )
    heatmap: list[list[float | None]] = Field(
        description="Mean interval value per weekday (Monday first) and hour of day (GET /profile weekday_hour).",
        examples=[[[None] * 24] * 7],
    )


class OverviewResponse(_Model):
    model_config = _example(
        {"muid": MUID_EXAMPLE, "tz": "Europe/Zurich", **_RANGE, "channels": [], "insights": _INSIGHTS_EXAMPLE}
    )

    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    tz: str = Field(description="Time zone of days, hours and timestamps.", examples=["Europe/Zurich"])
    start: datetime = Field(description="Start of the range.", examples=[_RANGE["start"]])
    end: datetime = Field(description="End (exclusive) of the range.", examples=[_RANGE["end"]])
    channels: list[OverviewChannel] = Field(description="Every channel of the meter, by OBIS code.", examples=[[]])
    insights: Insights = Field(description="As GET /insights.", examples=[_INSIGHTS_EXAMPLE])
    cost: dict[str, Any] | None = Field(
        None, description="With tariff=: the cost of the range (as GET /cost).", examples=[None]
    )


_FLEET_POINT = {
    "start": "2023-02-01T00:00:00+00:00",
    "end": "2023-02-02T00:00:00+00:00",
    "value": 1.8766,
    "count": 96,
    "meters": 1,
}


class FleetPoint(_Model):
    start: datetime = Field(description="Bucket start in tz.", examples=[_FLEET_POINT["start"]])
    end: datetime = Field(description="Bucket end (exclusive) in tz.", examples=[_FLEET_POINT["end"]])
    value: float | None = Field(
        description="Sum over the meters' channels of the kind; null when none read.", examples=[1.8766]
    )
    count: int = Field(description="Readings summed.", examples=[96])
    meters: int = Field(description="Meters with readings in the bucket.", examples=[1])


_KIND = {"quantity": "active_energy", "direction": "import", "unit": "kWh", "meters": 1, "points": [_FLEET_POINT]}


class FleetKind(_Model):
    quantity: str = Field(description="What the channels measure.", examples=["active_energy"])
    direction: str | None = Field(description="import, export, ... or null.", examples=["import"])
    unit: str | None = Field(description="Unit of the sums.", examples=["kWh"])
    meters: int = Field(description="Meters with a channel of this kind.", examples=[1])
    points: list[FleetPoint] = Field(description="Every bucket, oldest first.", examples=[[_FLEET_POINT]])


class FleetSeriesResponse(_Model):
    model_config = _example({"interval": "1d", "tz": "UTC", **_RANGE, "kinds": [_KIND]})

    interval: str = Field(description="Bucket size.", examples=["1d"])
    tz: str = Field(description="Time zone of the buckets.", examples=["UTC"])
    start: datetime = Field(description="Start of the range.", examples=[_RANGE["start"]])
    end: datetime = Field(description="End (exclusive) of the range.", examples=[_RANGE["end"]])
    kinds: list[FleetKind] = Field(
        description="One series per channel kind (quantity, direction, unit).", examples=[[_KIND]]
    )


_TOP = {"muid": MUID_EXAMPLE, "obis": "1-0:1.29.0*255", "kwh": 97.6082, "count": 2688}


class FleetTopMeter(_Model):
    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    obis: str = Field(description="Its active energy import channel.", examples=["1-0:1.29.0*255"])
    kwh: float = Field(description="Energy imported in the range.", examples=[97.6082])
    count: int = Field(description="Readings summed.", examples=[2688])


class FleetTopResponse(_Model):
    model_config = _example({**_RANGE, "tz": "UTC", "meters": [_TOP]})

    start: datetime = Field(description="Start of the range.", examples=[_RANGE["start"]])
    end: datetime = Field(description="End (exclusive) of the range.", examples=[_RANGE["end"]])
    tz: str = Field(description="Time zone of start and end.", examples=["UTC"])
    meters: list[FleetTopMeter] = Field(
        description="Meters by active energy import in the range, largest first.", examples=[[_TOP]]
    )
