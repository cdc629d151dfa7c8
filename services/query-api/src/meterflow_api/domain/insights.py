"""Insights of a meter's consumption and export, from its energy per local clock hour: pure, no I/O.

Every figure is defined here once (docs/api.md repeats the definitions, the integration test recomputes
them with pandas from the source files):

- base load: the lowest of the night hours' (00:00-06:00 local) mean energy per hour; kWh per hour is kW;
- standby share: base load x hours with readings / total energy;
- peak hours: the three hours of day with the highest mean energy per hour (ties: the earlier hour);
- weekday vs weekend: mean energy per local day, Monday-Friday against Saturday-Sunday, and the mean energy
  per hour of day of each (their shapes);
- unusual days: each day's 24 hourly values against the hour-by-hour median of the days of its weekday;
  the distance is the sum of the absolute differences; a day's robust z-score is
  0.6745 x (distance - median distance) / median absolute deviation of the distances (Iglewicz and
  Hoaglin; where that deviation is 0, their fallback with the mean absolute deviation, see
  robust_z_scores); the three days with the highest score, flagged unusual above 3.5;
- PV window (export channel): per local day, the start of the first and the end of the last interval with
  a non-zero value; the earliest start and the latest end over the period.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Final

from meterflow_api.domain.numbers import readable

NIGHT_HOURS: Final = range(6)
PEAK_HOURS: Final = 3
UNUSUAL_DAYS: Final = 3
UNUSUAL_Z: Final = 3.5
WEEKDAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class HourEnergy:
    """Energy of one clock hour: its local start (naive wall clock; the repeated hour of an autumn DST
    change appears twice) and the sum of its readings."""

    local: datetime
    kwh: float
    readings: int = 1


@dataclass(frozen=True, slots=True)
class ExportDay:
    """One local day of an export channel: start of its first and end of its last non-zero interval."""

    day: date
    first: time
    last_end: time


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def hour_of_day_means(hours: Sequence[HourEnergy]) -> list[float | None]:
    by_hour: dict[int, list[float]] = defaultdict(list)
    for hour in hours:
        by_hour[hour.local.hour].append(hour.kwh)
    return [_mean(by_hour.get(h, [])) for h in range(24)]


def daily_totals(hours: Sequence[HourEnergy]) -> dict[date, float]:
    totals: dict[date, float] = defaultdict(float)
    for hour in hours:
        totals[hour.local.date()] += hour.kwh
    return dict(sorted(totals.items()))


def base_load(hours: Sequence[HourEnergy]) -> dict[str, Any] | None:
    means = hour_of_day_means(hours)
    night = [(mean, h) for h in NIGHT_HOURS if (mean := means[h]) is not None]
    if not night:
        return None
    kw, hour = min(night)
    return {"kw": readable(kw), "hour": hour, "sentence": f"Your base load is {_kw(kw)}."}


def standby(hours: Sequence[HourEnergy], base_kw: float) -> dict[str, Any] | None:
    total = sum(h.kwh for h in hours)
    if total <= 0:
        return None
    kwh = base_kw * len(hours)
    share = kwh / total
    return {
        "kwh": readable(kwh),
        "share": readable(share),
        "sentence": f"Your base load of {_kw(base_kw)} is {_percent(share)} of your consumption ({_kwh(kwh)}).",
    }


def peak_hours(hours: Sequence[HourEnergy]) -> dict[str, Any] | None:
    means = [(m, h) for h, m in enumerate(hour_of_day_means(hours)) if m is not None]
    if not means:
        return None
    top = sorted(means, key=lambda item: (-item[0], item[1]))[:PEAK_HOURS]
    labels = [f"{h:02d}:00-{(h + 1) % 24:02d}:00" for _, h in top]
    return {
        "hours": [h for _, h in top],
        "kwh": [readable(m) for m, _ in top],
        "sentence": f"You use the most energy {_listing(labels)} ({_kwh(top[0][0])} in the top hour on average).",
    }


def weekday_weekend(hours: Sequence[HourEnergy]) -> dict[str, Any] | None:
    days = daily_totals(hours)
    weekday = [kwh for day, kwh in days.items() if day.weekday() < 5]
    weekend = [kwh for day, kwh in days.items() if day.weekday() >= 5]
    if not weekday or not weekend:
        return None
    on_weekdays, on_weekends = sum(weekday) / len(weekday), sum(weekend) / len(weekend)
    ratio = on_weekends / on_weekdays if on_weekdays else None
    if ratio is None:
        comparison = "On weekdays you use no energy"
    else:
        change = ratio - 1
        more = "more" if change >= 0 else "less"
        comparison = f"On weekends you use {_percent(abs(change))} {more} per day than on weekdays"
    return {
        "weekday_kwh_per_day": readable(on_weekdays),
        "weekend_kwh_per_day": readable(on_weekends),
        "ratio": readable(ratio),
        "weekday_shape": [readable(m) for m in hour_of_day_means([h for h in hours if h.local.weekday() < 5])],
        "weekend_shape": [readable(m) for m in hour_of_day_means([h for h in hours if h.local.weekday() >= 5])],
        "sentence": f"{comparison} ({_kwh(on_weekends)} against {_kwh(on_weekdays)}).",
    }


def day_shapes(hours: Sequence[HourEnergy]) -> dict[date, list[float | None]]:
    """Per local day the energy of each hour of day (the repeated DST hour summed, a skipped one None)."""
    shapes: dict[date, list[float | None]] = {}
    for hour in hours:
        shape = shapes.setdefault(hour.local.date(), [None] * 24)
        shape[hour.local.hour] = (shape[hour.local.hour] or 0.0) + hour.kwh
    return dict(sorted(shapes.items()))


def heatmap(hours: Sequence[HourEnergy]) -> list[list[float | None]]:
    """Mean interval value per weekday (Monday first) and hour of day: the profile's weekday_hour."""
    sums = [[0.0] * 24 for _ in range(7)]
    counts = [[0] * 24 for _ in range(7)]
    for hour in hours:
        weekday, clock = hour.local.weekday(), hour.local.hour
        sums[weekday][clock] += hour.kwh
        counts[weekday][clock] += hour.readings
    return [
        [readable(total / n) if n else None for total, n in zip(row, row_counts, strict=True)]
        for row, row_counts in zip(sums, counts, strict=True)
    ]


def _distance(shape: Sequence[float | None], usual: Sequence[float | None]) -> float:
    return sum(abs(x - u) for x, u in zip(shape, usual, strict=True) if x is not None and u is not None)


def unusual_days(hours: Sequence[HourEnergy]) -> dict[str, Any] | None:
    shapes = day_shapes(hours)
    by_weekday: dict[int, list[list[float | None]]] = defaultdict(list)
    for day, shape in shapes.items():
        by_weekday[day.weekday()].append(shape)
    usual = {weekday: _median_shape(members) for weekday, members in by_weekday.items()}
    distances = {day: _distance(shape, usual[day.weekday()]) for day, shape in shapes.items()}
    if len(distances) < 3:
        return None
    scores = robust_z_scores(distances)
    if scores is None:
        return None
    scored = sorted(((z, day) for day, z in scores.items()), key=lambda i: (-i[0], i[1]))
    top = scored[:UNUSUAL_DAYS]
    listed = [
        {
            "date": day.isoformat(),
            "weekday": WEEKDAY_NAMES[day.weekday()],
            "z": readable(z),
            "unusual": z > UNUSUAL_Z,
            "kwh": readable(sum(x for x in shapes[day] if x is not None)),
            "usual_kwh": readable(sum(x for x in usual[day.weekday()] if x is not None)),
        }
        for z, day in top
    ]
    z, day = top[0]
    return {
        "days": listed,
        "sentence": (
            f"{day.isoformat()} differed most from a usual {WEEKDAY_NAMES[day.weekday()]} "
            f"(robust z-score {z:.1f}{', unusual' if z > UNUSUAL_Z else ''})."
        ),
    }


def robust_z_scores(values: dict[date, float]) -> dict[date, float] | None:
    """0.6745 x (x - median) / MAD; where the MAD is 0 (most values equal), (x - median) / (1.253314 x mean
    absolute deviation), as Iglewicz and Hoaglin's fallback; None when every value is the median."""
    centre = statistics.median(values.values())
    deviations = [abs(v - centre) for v in values.values()]
    spread = statistics.median(deviations)
    if spread > 0:
        return {key: 0.6745 * (v - centre) / spread for key, v in values.items()}
    mean_deviation = sum(deviations) / len(deviations)
    if mean_deviation == 0:
        return None
    return {key: (v - centre) / (1.253314 * mean_deviation) for key, v in values.items()}


def _median_shape(shapes: Sequence[Sequence[float | None]]) -> list[float | None]:
    usual: list[float | None] = []
    for hour in range(24):
        present = [shape[hour] for shape in shapes if shape[hour] is not None]
        usual.append(statistics.median(present) if present else None)  # type: ignore[type-var]
    return usual


def pv_window(days: Sequence[ExportDay]) -> dict[str, Any] | None:
    if not days:
        return None
    first = min(d.first for d in days)
    last = max(d.last_end for d in days)
    return {
        "first": first.strftime("%H:%M"),
        "last": last.strftime("%H:%M"),
        "days": [
            {"date": d.day.isoformat(), "first": d.first.strftime("%H:%M"), "last": d.last_end.strftime("%H:%M")}
            for d in days
        ],
        "sentence": f"Your solar export runs between {first:%H:%M} and {last:%H:%M} (earliest start, latest end).",
    }


def end_of(start: datetime, step: timedelta) -> time:
    return (start + step).time()


def _kw(value: float) -> str:
    return f"{value:.2f} kW"


def _kwh(value: float) -> str:
    return f"{value:.2f} kWh"


def _percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def _listing(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(f"between {item}" for item in items)
    return "between " + ", ".join(items[:-1]) + " and " + items[-1]
