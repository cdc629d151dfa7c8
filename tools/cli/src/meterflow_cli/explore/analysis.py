"""The first analysis a data scientist does of a meter's load curve, as pure functions over pandas.

Input: one channel's readings (interval start in UTC → kWh per interval) and what the channels table
knows about it. Output: :class:`ChannelFacts` (coverage, distribution, groupings, weekday × hour profile,
autocorrelation, base load, PV window) and :class:`Finding` sentences computed from those numbers.
Energy per interval is turned into mean power (kW) by the interval length, so hours are comparable
whatever the meter's interval. Every grouping is in the requested time zone (local days, local hours).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

NIGHT_HOURS = range(0, 6)
"""Local hours counted as night for base load and night consumption (00:00-06:00)."""
DAY = timedelta(days=1)
WEEK = timedelta(days=7)
DECIMALS = 6
"""Sums and means are rounded to this many decimals: the source delivers at most 5 (multiples of 0.00025
kWh in the real files), so this removes binary float noise without losing a digit."""
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Channel:
    """What the channels table says about one channel."""

    muid: str
    obis: str
    quantity: str
    direction: str | None
    unit: str | None
    interval_s: int


@dataclass(frozen=True, slots=True)
class Coverage:
    first: datetime
    last: datetime
    readings: int
    expected: int
    gaps: list[tuple[datetime, datetime]]
    quality: dict[str, int]
    zeros: int
    negatives: int

    @property
    def missing(self) -> int:
        return self.expected - self.readings

    @property
    def share(self) -> float:
        return self.readings / self.expected if self.expected else 0.0


@dataclass(frozen=True, slots=True)
class PvWindow:
    """First and last interval start with non-zero values, per local day and over the whole period."""

    earliest: time
    latest: time
    per_day: pd.DataFrame  # index: local date; columns: first, last (local times) of days with export


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    channel: Channel
    tz: str
    coverage: Coverage
    total_kwh: float
    distribution: dict[str, float]
    power_kw: pd.Series  # mean power per interval, local time
    daily_kwh: pd.Series
    weekly_kwh: pd.Series
    monthly_kwh: pd.Series
    profile_kw: pd.DataFrame  # 7 rows (Monday..Sunday) x 24 columns (local hour): mean kW
    hourly_kw: pd.Series  # 24 local hours: mean kW over all days
    autocorrelation: pd.Series  # lag in hours -> r
    daily_peak: tuple[float, float] | None  # (lag hours, r) at one day
    weekly_peak: tuple[float, float] | None  # at one week
    base_load_kw: float
    night_share: float
    top_decile_share: float  # share of the energy in the busiest 10 % of intervals
    weekday_daily_kwh: float | None
    weekend_daily_kwh: float | None
    pv_window: PvWindow | None


@dataclass(frozen=True, slots=True)
class Finding:
    """One plain-language conclusion, with the code and numbers it rests on."""

    code: str
    text: str
    values: dict[str, object] = field(default_factory=dict)


def rounded(value: float) -> float:
    return round(float(value), DECIMALS)


def analyse_channel(channel: Channel, readings: pd.Series, tz: str) -> ChannelFacts:
    """All figures of one channel. ``readings``: kWh per interval indexed by UTC interval start, sorted."""
    if readings.empty:
        raise ValueError(f"no readings for {channel.muid} {channel.obis} in the period")
    zone = ZoneInfo(tz)
    local = readings.tz_convert(zone)
    per_hour = 3600 / channel.interval_s
    power_kw = local * per_hour
    index = _index(local)
    profile = _weekday_hour_profile(power_kw)
    hourly = power_kw.groupby(index.hour).mean().reindex(range(24))
    acf = _autocorrelation(readings, channel.interval_s)
    daily = _group_sum(local, list(index.date))
    is_weekend = pd.Index([d.weekday() >= 5 for d in daily.index])
    return ChannelFacts(
        channel=channel,
        tz=tz,
        coverage=_coverage(readings, channel.interval_s),
        total_kwh=rounded(readings.sum()),
        distribution=_distribution(readings),
        power_kw=power_kw,
        daily_kwh=daily,
        weekly_kwh=_group_sum(local, [f"{d.isocalendar().year}-W{d.isocalendar().week:02d}" for d in index]),
        monthly_kwh=_group_sum(local, [f"{d.year}-{d.month:02d}" for d in index]),
        profile_kw=profile,
        hourly_kw=hourly,
        autocorrelation=acf,
        daily_peak=_at_lag(acf, DAY, channel.interval_s),
        weekly_peak=_at_lag(acf, WEEK, channel.interval_s),
        base_load_kw=rounded(hourly.loc[list(NIGHT_HOURS)].min()),
        night_share=_night_share(local),
        top_decile_share=_top_decile_share(readings),
        weekday_daily_kwh=rounded(daily[~is_weekend].mean()) if (~is_weekend).any() else None,
        weekend_daily_kwh=rounded(daily[is_weekend].mean()) if is_weekend.any() else None,
        pv_window=_pv_window(local) if channel.direction == "export" else None,
    )


def _index(series: pd.Series) -> pd.DatetimeIndex:
    """The series' time index, typed as what it is (pandas-stubs only know a generic Index)."""
    return pd.DatetimeIndex(series.index)


def _group_sum(local: pd.Series, keys: list[Any]) -> pd.Series:
    return local.groupby(keys).sum().round(DECIMALS)


def _night_share(local: pd.Series) -> float:
    total = local.sum()
    return rounded(local[_index(local).hour < NIGHT_HOURS.stop].sum() / total) if total else 0.0


def _coverage(readings: pd.Series, interval_s: int) -> Coverage:
    index = _index(readings)
    step = pd.Timedelta(seconds=interval_s)
    expected = int((index[-1] - index[0]) / step) + 1
    deltas = index[1:] - index[:-1]
    gaps = [(index[i] + step, index[i + 1]) for i in np.flatnonzero(deltas > step).tolist()]
    quality = readings.attrs.get("quality", {})
    return Coverage(
        first=index[0].to_pydatetime(),
        last=index[-1].to_pydatetime(),
        readings=len(readings),
        expected=expected,
        gaps=[(a.to_pydatetime(), b.to_pydatetime()) for a, b in gaps],
        quality=dict(quality),
        zeros=int((readings == 0).sum()),
        negatives=int((readings < 0).sum()),
    )


def _distribution(readings: pd.Series) -> dict[str, float]:
    quantiles = readings.quantile([0.1, 0.25, 0.5, 0.75, 0.9, 0.99])
    figures = {
        "min": readings.min(),
        "p10": quantiles[0.1],
        "p25": quantiles[0.25],
        "median": quantiles[0.5],
        "p75": quantiles[0.75],
        "p90": quantiles[0.9],
        "p99": quantiles[0.99],
        "max": readings.max(),
        "mean": readings.mean(),
        "std": readings.std(ddof=0),
    }
    return {name: rounded(value) for name, value in figures.items()}


def _top_decile_share(readings: pd.Series) -> float:
    total = readings.sum()
    if total <= 0:
        return 0.0
    top = readings.nlargest(max(1, len(readings) // 10))
    return rounded(top.sum() / total)


def _weekday_hour_profile(power_kw: pd.Series) -> pd.DataFrame:
    index = _index(power_kw)
    table = power_kw.groupby([index.day_of_week, index.hour]).mean().unstack()
    return table.reindex(index=range(7), columns=range(24))


def _autocorrelation(readings: pd.Series, interval_s: int) -> pd.Series:
    """Pearson autocorrelation of the regular series for lags up to 8 days (or half the series)."""
    step = pd.Timedelta(seconds=interval_s)
    grid = pd.date_range(readings.index[0], readings.index[-1], freq=step)
    values = readings.reindex(grid).to_numpy(dtype=float)
    centred = np.nan_to_num(values - np.nanmean(values))  # a missing interval contributes nothing
    n = len(centred)
    max_lag = min(n // 2, int((WEEK + DAY) / step))
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, size)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    acf = acov / acov[0] if acov[0] else np.zeros(max_lag + 1)
    lags_h = np.arange(max_lag + 1) * interval_s / 3600
    return pd.Series(np.round(acf, 4), index=lags_h)


def _at_lag(acf: pd.Series, period: timedelta, interval_s: int) -> tuple[float, float] | None:
    """(lag in hours, r) at exactly ``period``, if the series is long enough to have it."""
    lag = int(period.total_seconds() // interval_s)
    if lag >= len(acf):
        return None
    return float(acf.index[lag]), float(acf.iloc[lag])


def _pv_window(local: pd.Series) -> PvWindow | None:
    producing = local[local > 0]
    if producing.empty:
        return None
    index = _index(producing)
    times = pd.Series(index.time, index=index)
    per_day = times.groupby(list(index.date)).agg(["min", "max"]).rename(columns={"min": "first", "max": "last"})
    return PvWindow(earliest=min(per_day["first"]), latest=max(per_day["last"]), per_day=per_day)
