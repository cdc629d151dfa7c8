"""Response models: they document the API (OpenAPI) and the tests validate real answers against them.

The handlers serialize plain dicts with orjson for speed; these models are the contract those dicts keep.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from meterflow_api.schemas_insights import Patterns, StatsComparison

MUID_EXAMPLE = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _example(example: dict[str, Any]) -> ConfigDict:
    """A whole-response example (real answers of the API on the February 2023 sample data, trimmed)."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [example]})


_CHANNEL_EXAMPLE = {
    "obis": "1-0:1.29.0*255",
    "hex": "0100011D00FF",
    "quantity": "active_energy",
    "direction": "import",
    "unit": "kWh",
    "first": "2023-02-01T00:00:00+00:00",
    "last": "2023-02-28T23:45:00+00:00",
    "count": 2688,
}


class ChannelInfo(_Model):
    obis: str = Field(description="Normalized OBIS code A-B:C.D.E*F.", examples=["1-0:1.29.0*255"])
    hex: str = Field(description="The same code as the source's 12 hex digits.", examples=["0100011D00FF"])
    quantity: str = Field(description="What is measured, decoded from the code.", examples=["active_energy"])
    direction: str | None = Field(description="import, export, q1..q4, absolute, net or null.", examples=["import"])
    unit: str | None = Field(description="Unit of every value of the channel.", examples=["kWh"])
    first: datetime = Field(description="Start of the first stored interval.", examples=["2023-02-01T00:00:00+00:00"])
    last: datetime = Field(description="Start of the last stored interval.", examples=["2023-02-28T23:45:00+00:00"])
    count: int = Field(description="Number of stored readings.", examples=[2688])


class MeterInfo(_Model):
    muid: UUID = Field(description="Meter (measurement unit) id.", examples=[MUID_EXAMPLE])
    channels: list[ChannelInfo] = Field(
        description="Every OBIS channel with stored readings, by code.", examples=[[_CHANNEL_EXAMPLE]]
    )


class MetersResponse(_Model):
    model_config = _example(
        {"meters": [{"muid": MUID_EXAMPLE, "channels": [_CHANNEL_EXAMPLE]}], "next_cursor": "lc4zZ8vOSk2749oIKDHXvQ"}
    )

    meters: list[MeterInfo] = Field(
        description="Every meter with readings, ordered by muid (one page of them: see next_cursor).",
        examples=[[{"muid": MUID_EXAMPLE, "channels": [_CHANNEL_EXAMPLE]}]],
    )
    next_cursor: str | None = Field(
        description="Pass as cursor to get the next page; null on the last page.",
        examples=["lc4zZ8vOSk2749oIKDHXvQ"],
    )


class Reading(_Model):
    ts: datetime = Field(description="Interval start, ISO 8601 with offset (in tz).", examples=["2023-02-01T00:00:00Z"])
    value: float = Field(description="Value as delivered, in the channel's unit.", examples=[0.0117])
    quality: str = Field(description="Quality flag from the source.", examples=["measured"])


class ReadingsResponse(_Model):
    model_config = _example(
        {
            "muid": MUID_EXAMPLE,
            "obis": "1-0:1.29.0*255",
            "unit": "kWh",
            "readings": [
                {"ts": "2023-02-01T00:00:00+00:00", "value": 0.0162, "quality": "measured"},
                {"ts": "2023-02-01T00:15:00+00:00", "value": 0.0117, "quality": "measured"},
                {"ts": "2023-02-01T00:30:00+00:00", "value": 0.0118, "quality": "measured"},
            ],
            "next_cursor": "MjAyMy0wMi0wMVQwMDozMDowMC4wMDAwMDArMDA6MDA",
        }
    )

    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    obis: str = Field(description="Normalized OBIS code of the channel.", examples=["1-0:1.29.0*255"])
    unit: str | None = Field(description="Unit of the values.", examples=["kWh"])
    readings: list[Reading] = Field(
        description="Readings in [start, end), oldest first, at most limit.",
        examples=[[{"ts": "2023-02-01T00:00:00+00:00", "value": 0.0162, "quality": "measured"}]],
    )
    next_cursor: str | None = Field(
        description="Pass as cursor to get the next page; null on the last page.",
        examples=["MjAyMy0wMi0xMVQwOTo0NTowMC4wMDAwMDArMDA6MDA"],
    )


class Point(_Model):
    start: datetime = Field(
        description="Bucket start in tz, ISO 8601 with offset.", examples=["2023-02-01T00:00:00+01:00"]
    )
    end: datetime = Field(description="Bucket end (exclusive) in tz.", examples=["2023-02-02T00:00:00+01:00"])
    value: float | None = Field(
        description="The aggregate of the bucket's readings; null when the bucket has none (count 0).",
        examples=[1.8766],
    )
    count: int = Field(description="Readings in the bucket (within [start, end) of the request).", examples=[96])


class SeriesResponse(_Model):
    model_config = _example(
        {
            "muid": MUID_EXAMPLE,
            "obis": "1-0:1.29.0*255",
            "unit": "kWh",
            "interval": "1d",
            "agg": "sum",
            "tz": "Europe/Zurich",
            "points": [
                {
                    "start": "2023-02-01T00:00:00+01:00",
                    "end": "2023-02-02T00:00:00+01:00",
                    "value": 1.8299,
                    "count": 92,
                },
                {
                    "start": "2023-02-02T00:00:00+01:00",
                    "end": "2023-02-03T00:00:00+01:00",
                    "value": 4.0253,
                    "count": 96,
                },
            ],
        }
    )

    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    obis: str = Field(description="Normalized OBIS code.", examples=["1-0:1.29.0*255"])
    unit: str | None = Field(description="Unit of value (count: a number of readings).", examples=["kWh"])
    interval: str = Field(description="Bucket size.", examples=["1d"])
    agg: str = Field(description="Aggregate of each bucket.", examples=["sum"])
    tz: str = Field(description="Time zone of the buckets.", examples=["Europe/Zurich"])
    points: list[Point] = Field(
        description="Every bucket overlapping [start, end), oldest first, gaps included.",
        examples=[
            [
                {"start": "2023-03-29T00:00:00+02:00", "end": "2023-03-30T00:00:00+02:00", "value": None, "count": 0},
                {"start": "2023-03-30T00:00:00+02:00", "end": "2023-03-31T00:00:00+02:00", "value": 3.61, "count": 96},
            ]
        ],
    )


class ProfileResponse(_Model):
    model_config = _example(
        {
            "muid": "1db7649e-9342-4e04-97c7-f0ebb88ed1f8",
            "obis": "1-0:2.29.0*255",
            "unit": "kWh",
            "tz": "UTC",
            "by_hour": [0.0] * 6
            + [0.00046, 0.0087, 0.0308, 0.0464, 0.0487, 0.0499, 0.0436, 0.0404, 0.0328, 0.0188]
            + [0.0026]
            + [0.0] * 7,
            "by_weekday": [0.0251, 0.0218, 0.0086, 0.0073, 0.0082, 0.0112, 0.0121],
            "weekday_hour": [
                [0.0] * 6
                + [0.0013, 0.0146, 0.0454, 0.068, 0.0892, 0.1083, 0.0938, 0.0826, 0.0573]
                + [0.0354, 0.006]
                + [0.0] * 7
            ]
            * 7,
        }
    )

    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    obis: str = Field(description="Normalized OBIS code.", examples=["1-0:1.29.0*255"])
    unit: str | None = Field(description="Unit of the averages (per interval).", examples=["kWh"])
    tz: str = Field(description="Time zone of hours and weekdays.", examples=["UTC"])
    by_hour: list[float | None] = Field(
        description="Mean interval value per hour of day 0..23 in tz; null where no data.",
        min_length=24,
        max_length=24,
        examples=[[0.0231] * 24],
    )
    by_weekday: list[float | None] = Field(
        description="Mean interval value per weekday, Monday first; null where no data.",
        min_length=7,
        max_length=7,
        examples=[[0.036, 0.034, 0.035, 0.037, 0.038, 0.041, 0.039]],
    )
    weekday_hour: list[list[float | None]] = Field(
        description="7 rows (Monday first) of 24 mean interval values per hour of day; null where no data.",
        min_length=7,
        max_length=7,
        examples=[[[None] * 24] * 7],
    )
    patterns: Patterns | None = Field(
        None, description="With patterns=true: spread and percentiles of the energy per clock hour.", examples=[None]
    )


class Extreme(_Model):
    value: float | None = Field(description="The value; null without data.", examples=[0.9612])
    at: datetime | None = Field(
        description="Start of the (earliest) interval with that value, in tz.", examples=["2023-02-20T15:00:00Z"]
    )


class StatsResponse(_Model):
    model_config = _example(
        {
            "muid": MUID_EXAMPLE,
            "obis": "1-0:1.29.0*255",
            "unit": "kWh",
            "tz": "UTC",
            "start": "2023-02-01T00:00:00+00:00",
            "end": "2023-03-01T00:00:00+00:00",
            "interval_s": 900,
            "total": 97.6082,
            "mean": 0.0363125744048,
            "min": {"value": 0.0114, "at": "2023-02-12T15:15:00+00:00"},
            "max": {"value": 0.9612, "at": "2023-02-20T15:00:00+00:00"},
            "base_load": 0.0116,
            "peak_hour": 22,
            "count": 2688,
            "expected": 2688,
            "coverage": 1.0,
        }
    )

    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    obis: str = Field(description="Normalized OBIS code.", examples=["1-0:1.29.0*255"])
    unit: str | None = Field(description="Unit of the values.", examples=["kWh"])
    tz: str = Field(description="Time zone of at, start, end and peak_hour.", examples=["UTC"])
    start: datetime = Field(description="Start of the range analysed.", examples=["2023-02-01T00:00:00Z"])
    end: datetime = Field(description="End (exclusive) of the range analysed.", examples=["2023-03-01T00:00:00Z"])
    interval_s: int = Field(
        description="The channel's interval in seconds, inferred from the data (900 when it cannot be).",
        examples=[900],
    )
    total: float | None = Field(description="Sum of the values; null without data.", examples=[97.6082])
    mean: float | None = Field(description="Mean interval value.", examples=[0.03631257])
    min: Extreme = Field(
        description="Smallest value and when.", examples=[{"value": 0.0114, "at": "2023-02-12T15:15:00+00:00"}]
    )
    max: Extreme = Field(
        description="Largest value and when.", examples=[{"value": 0.9612, "at": "2023-02-20T15:00:00+00:00"}]
    )
    base_load: float | None = Field(
        description="10th percentile of the interval values (continuous percentile): the always-on load.",
        examples=[0.0146],
    )
    peak_hour: int | None = Field(description="Hour of day (0-23, in tz) with the highest mean value.", examples=[17])
    count: int = Field(description="Readings in the range.", examples=[2688])
    expected: int = Field(description="Intervals in [start, end) at the channel's interval.", examples=[2688])
    coverage: float | None = Field(description="count / expected (1.0 = no gaps).", examples=[1.0])
    compare: StatsComparison | None = Field(
        None, description="With compare=: the compared period's figures and the differences.", examples=[None]
    )


class LagValue(_Model):
    lag: int = Field(description="Lag in intervals of the channel (96 = one day of 15-minute data).", examples=[96])
    value: float | None = Field(description="Autocorrelation at that lag, -1..1; null when undefined.", examples=[0.62])


class AutocorrelationResponse(_Model):
    model_config = _example(
        {
            "muid": MUID_EXAMPLE,
            "obis": "1-0:1.29.0*255",
            "interval_s": 900,
            "lags": [{"lag": 96, "value": -0.07532532721105671}, {"lag": 672, "value": -0.016882240056805903}],
        }
    )

    muid: UUID = Field(description="Meter id.", examples=[MUID_EXAMPLE])
    obis: str = Field(description="Normalized OBIS code.", examples=["1-0:1.29.0*255"])
    interval_s: int = Field(description="Interval of the regular series in seconds, inferred.", examples=[900])
    lags: list[LagValue] = Field(
        description="One entry per requested lag, in request order.", examples=[[{"lag": 96, "value": -0.0753}]]
    )


class SourceRecordsResponse(_Model):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "data": [
                        {
                            "measurement": "energy",
                            "timestamp": "2023-02-21T12:15:00.000Z",
                            "tags": {"muid": "1db7649e-9342-4e04-97c7-f0ebb88ed1f8", "quality": "measured"},
                            "0100021D00FF": 0.1695,
                        },
                        {
                            "measurement": "energy",
                            "timestamp": "2023-02-21T12:00:00.000Z",
                            "tags": {"muid": "1db7649e-9342-4e04-97c7-f0ebb88ed1f8", "quality": "measured"},
                            "0100021D00FF": 0.17325000000000002,
                        },
                    ]
                }
            ]
        },
    )

    data: list[dict[str, Any]] = Field(
        description=(
            "Records exactly as the source API serves them, newest first: measurement, timestamp (UTC, "
            "milliseconds, Z), tags {muid, quality} and one key per channel: its OBIS code in hex with the value."
        ),
        examples=[
            [
                {
                    "measurement": "energy",
                    "timestamp": "2023-02-28T23:45:00.000Z",
                    "tags": {"muid": MUID_EXAMPLE, "quality": "measured"},
                    "0100011D00FF": 0.0117,
                }
            ]
        ],
    )


class Health(_Model):
    model_config = _example({"status": "ok"})

    status: str = Field(description="Always ok while the process serves requests.", examples=["ok"])


class Readiness(_Model):
    model_config = _example({"ready": True, "detail": "database reachable"})

    ready: bool = Field(description="True when the database answered.", examples=[True])
    detail: str = Field(description="What was checked.", examples=["database reachable"])


class ErrorResponse(_Model):
    model_config = _example(
        {
            "detail": "meter 95ce3367-cbce-4a4d-bbe3-da082831d7bd has no channel 1-0:2.29.0*255 (0100021D00FF); "
            "its channels: 1-0:1.29.0*255 (0100011D00FF)"
        }
    )

    detail: str = Field(
        description="What went wrong and what to do.",
        examples=["unknown meter 00000000-0000-0000-0000-000000000000: no readings stored for it"],
    )


class ValidationProblem(_Model):
    loc: list[str | int] = Field(description="Where: path, query and the parameter name.", examples=[["query", "tz"]])
    msg: str = Field(
        description="What is wrong and how to fix it.",
        examples=["unknown time zone 'Europe/Zurch': use an IANA name such as UTC or Europe/Zurich"],
    )
    type: str = Field(description="Machine-readable kind.", examples=["value_error"])


class ValidationErrorResponse(_Model):
    model_config = _example(
        {
            "detail": [
                {
                    "loc": ["query", "end"],
                    "msg": "range too large for interval=15m: at most 31 days, got 59 days (2023-01-01T00:00:00+00:00 "
                    "to 2023-03-01T00:00:00+00:00); narrow start/end",
                    "type": "value_error",
                }
            ]
        }
    )

    detail: list[ValidationProblem] = Field(
        description="One entry per invalid parameter.",
        examples=[
            [
                {
                    "loc": ["query", "agg"],
                    "msg": "unknown agg 'median': use one of sum, avg, min, max, count",
                    "type": "value_error",
                }
            ]
        ],
    )


_CHANNEL_QUALITY_EXAMPLE = {
    "obis": "1-0:1.29.0*255",
    "hex": "0100011D00FF",
    "interval_s": 900,
    "first": "2023-02-01T00:00:00+00:00",
    "last": "2023-02-28T23:45:00+00:00",
    "count": 2688,
    "expected": 2688,
    "missing": 0,
    "coverage": 1.0,
    "silent": True,
}
_METER_QUALITY_EXAMPLE = {
    "muid": MUID_EXAMPLE,
    "last_reading": "2023-02-28T23:45:00+00:00",
    "silent": True,
    "expected": 2688,
    "missing": 0,
    "coverage": 1.0,
    "channels": [_CHANNEL_QUALITY_EXAMPLE],
}


class ChannelQuality(_Model):
    obis: str = Field(description="Normalized OBIS code A-B:C.D.E*F.", examples=["1-0:1.29.0*255"])
    hex: str = Field(description="The same code as the source's 12 hex digits.", examples=["0100011D00FF"])
    interval_s: int | None = Field(description="Usual step between readings; null while there is one.", examples=[900])
    first: datetime = Field(description="Start of the first stored interval.", examples=["2023-02-01T00:00:00+00:00"])
    last: datetime = Field(description="Start of the last stored interval.", examples=["2023-02-28T23:45:00+00:00"])
    count: int = Field(description="Stored readings.", examples=[2688])
    expected: int = Field(description="Intervals from first to last, both included.", examples=[2688])
    missing: int = Field(description="Of those, intervals without a reading (gaps).", examples=[0])
    coverage: float = Field(description="count / expected, 1.0 when nothing is missing.", examples=[1.0])
    silent: bool = Field(
        description="No reading for more than two intervals (false without interval).", examples=[False]
    )


class MeterQuality(_Model):
    muid: UUID = Field(description="Meter (measurement unit) id.", examples=[MUID_EXAMPLE])
    last_reading: datetime = Field(
        description="Start of the meter's newest stored interval, any channel.", examples=["2023-02-28T23:45:00+00:00"]
    )
    silent: bool = Field(description="Every channel with a known interval is silent.", examples=[False])
    expected: int = Field(description="Expected intervals, summed over the channels.", examples=[2688])
    missing: int = Field(description="Missing intervals, summed over the channels.", examples=[0])
    coverage: float = Field(description="Stored / expected intervals over all channels.", examples=[1.0])
    channels: list[ChannelQuality] = Field(description="Every channel, by code.", examples=[[_CHANNEL_QUALITY_EXAMPLE]])


class QualityResponse(_Model):
    model_config = _example({"meters": [_METER_QUALITY_EXAMPLE], "next_cursor": None})

    meters: list[MeterQuality] = Field(
        description="One page of meters, by muid (see next_cursor).", examples=[[_METER_QUALITY_EXAMPLE]]
    )
    next_cursor: str | None = Field(
        description="Pass as cursor to get the next page; null on the last page.", examples=["lc4zZ8vOSk2749oIKDHXvQ"]
    )
