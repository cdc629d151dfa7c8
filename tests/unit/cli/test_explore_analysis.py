"""The exploration's figures and findings on synthetic load curves whose answers are known by construction."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import time

import numpy as np
import pandas as pd
from meterflow_cli.explore.analysis import Channel, analyse_channel
from meterflow_cli.explore.findings import channel_findings

IMPORT = Channel("00000000-0000-0000-0000-000000000001", "1-0:1.29.0*255", "active_energy", "import", "kWh", 900)
EXPORT = Channel("00000000-0000-0000-0000-000000000002", "1-0:2.29.0*255", "active_energy", "export", "kWh", 900)


def curve(start: str | pd.Timestamp, days: int, value: Callable[[pd.Timestamp], float]) -> pd.Series:
    index = pd.date_range(start, periods=days * 96, freq="15min", tz="UTC")
    return pd.Series([value(ts) for ts in index], index=index, dtype=float)


def codes(channel: Channel, series: pd.Series, tz: str = "UTC") -> dict[str, str]:
    return {f.code: f.text for f in channel_findings(analyse_channel(channel, series, tz))}


def test_a_daily_sine_has_a_daily_rhythm_and_a_flat_curve_has_none() -> None:
    sine = curve("2024-01-01", 14, lambda ts: 1.0 + math.sin(2 * math.pi * (ts.hour * 4 + ts.minute // 15) / 96))
    facts = analyse_channel(IMPORT, sine, "UTC")
    assert facts.daily_peak is not None and facts.daily_peak[0] == 24.0 and facts.daily_peak[1] > 0.8
    assert codes(IMPORT, sine)["daily_rhythm"].startswith("A daily rhythm")
    rng = np.random.default_rng(7)
    noise = pd.Series(rng.random(14 * 96), index=sine.index)
    assert codes(IMPORT, noise)["daily_rhythm"].startswith("No daily routine")


def test_gaps_are_found_and_counted() -> None:
    series = curve("2024-01-01", 2, lambda _: 0.1)
    holed = series.drop(series.index[10:14]).drop(series.index[100:101])
    facts = analyse_channel(IMPORT, holed, "UTC")
    assert (facts.coverage.expected, facts.coverage.readings, facts.coverage.missing) == (192, 187, 5)
    assert [(a, b) for a, b in facts.coverage.gaps] == [
        (series.index[10].to_pydatetime(), series.index[14].to_pydatetime()),
        (series.index[100].to_pydatetime(), series.index[101].to_pydatetime()),
    ]
    assert "2 gaps" in codes(IMPORT, holed)["coverage"]


def test_local_days_follow_the_zone_across_daylight_saving() -> None:
    # 2024-03-31 has 23 hours in Zurich, 2024-10-27 has 25: daily totals count 92 and 100 intervals.
    for day, intervals in (("2024-03-31", 92), ("2024-10-27", 100)):
        series = curve(pd.Timestamp(day) - pd.Timedelta(days=1), 3, lambda _: 1.0)
        facts = analyse_channel(IMPORT, series, "Europe/Zurich")
        assert facts.daily_kwh[pd.Timestamp(day).date()] == intervals


def test_pv_window_is_read_in_local_time() -> None:
    # Non-zero 06:15-16:45 UTC in winter: 07:15-17:45 in Zurich.
    sunny = curve("2024-02-01", 7, lambda ts: 0.1 if time(6, 15) <= ts.time() <= time(16, 45) else 0.0)
    facts = analyse_channel(EXPORT, sunny, "Europe/Zurich")
    assert facts.pv_window is not None and (facts.pv_window.earliest, facts.pv_window.latest) == (
        time(7, 15),
        time(17, 45),
    )
    assert (
        codes(EXPORT, sunny, "Europe/Zurich")["pv_window"]
        == "export only between 07:15 and 17:45 local time: a PV system."
    )
    night = curve("2024-02-01", 7, lambda ts: 0.1 if ts.hour == 2 else 0.0)
    assert codes(EXPORT, night)["pv_window"] == "export only between 02:00 and 02:45 local time."


def test_floor_bursts_and_weekend_share() -> None:
    # 0.01 kWh always, plus 1 kWh at 19:00 on weekdays: a floor, bursts, an evening peak, weekends lower.
    def load(ts: pd.Timestamp) -> float:
        return 0.01 + (1.0 if ts.weekday() < 5 and ts.hour == 19 else 0.0)

    series = curve("2024-01-01", 14, load)
    found = codes(IMPORT, series)
    assert found["base_load"].startswith("An always-on floor of 0.040 kW")
    assert found["bursts"].startswith("Consumption comes in bursts")
    assert found["peak_hours"].startswith("The highest mean hours are 19:00")
    assert found["weekday_weekend"] == "A weekend day uses 81% less than a weekday (0.96 against 4.96 kWh on average)."
