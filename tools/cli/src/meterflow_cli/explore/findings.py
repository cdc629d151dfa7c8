"""Plain-language findings computed from a channel's figures (:mod:`.analysis`), one sentence each.

Every sentence is derived from numbers in :class:`~.analysis.ChannelFacts` by a fixed rule named here, so
the same data always reads the same way and a test can assert both the rule and the wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time

import pandas as pd
from meterflow_obis import decode

from meterflow_cli.explore.analysis import WEEKDAYS, ChannelFacts, Finding, rounded

ROUTINE_R = 0.3
"""Autocorrelation at one day above which a load curve follows a daily routine."""
BURST_SHARE = 0.4
"""Share of the energy carried by the top decile of intervals above which consumption comes in bursts."""
DAYLIGHT = (time(4, 0), time(22, 0))
"""Every non-zero export interval inside this local window: the export follows the sun."""
EVENING_HOURS = range(17, 23)


def channel_findings(facts: ChannelFacts) -> list[Finding]:
    """The findings of one channel, most telling first."""
    findings = [_meaning(facts), _coverage(facts)]
    if facts.channel.direction == "export":
        findings += [f for f in (_pv_window(facts), _routine(facts, "export")) if f]
    else:
        findings += [f for f in (_routine(facts, "consumption"), _floor(facts), _bursts(facts)) if f]
        findings += [_peak_hours(facts), _night(facts), *_weekday_weekend(facts)]
    findings.append(_largest_day(facts))
    return findings


def pair_findings(imports: ChannelFacts, exports: ChannelFacts) -> list[Finding]:
    """What an import and an export channel of one site say together (no production meter: no self-use)."""
    share = exports.total_kwh / imports.total_kwh if imports.total_kwh else 0.0
    text = (
        f"Over the period {_kwh(exports.total_kwh)} were exported and {_kwh(imports.total_kwh)} imported: "
        f"export is {share:.0%} of import. How much solar was used on site is unknown without a production meter."
    )
    return [Finding("import_export", text, {"import_kwh": imports.total_kwh, "export_kwh": exports.total_kwh})]


def _meaning(facts: ChannelFacts) -> Finding:
    info = decode(facts.channel.obis)
    description = info.description[0].lower() + info.description[1:]
    text = f"{info.hex} ({info.obis}) is {description}" + (
        " (OBIS C = 2: active energy, export; reactive energy would be C = 3 or 4)."
        if facts.channel.direction == "export" and facts.channel.quantity == "active_energy"
        else "."
    )
    return Finding("channel", text, {"quantity": facts.channel.quantity, "direction": facts.channel.direction})


def _coverage(facts: ChannelFacts) -> Finding:
    c = facts.coverage
    minutes = facts.channel.interval_s // 60
    span = f"from {_utc(c.first)} to {_utc(c.last)} UTC"
    qualities = ", ".join(f"'{q}' {n:,}" for q, n in sorted(c.quality.items()))
    if not c.gaps:
        text = f"Complete: all {c.readings:,} {minutes}-minute intervals {span} are present (quality {qualities})."
    else:
        longest = max(c.gaps, key=lambda g: g[1] - g[0])
        text = (
            f"{c.readings:,} of {c.expected:,} {minutes}-minute intervals {span} are present ({c.share:.1%}): "
            f"{len(c.gaps)} gaps, the longest from {_utc(longest[0])} to {_utc(longest[1])} UTC."
        )
    return Finding("coverage", text, {"readings": c.readings, "expected": c.expected, "gaps": len(c.gaps)})


def _pv_window(facts: ChannelFacts) -> Finding | None:
    window = facts.pv_window
    if window is None:
        return None
    earliest, latest = window.earliest.strftime("%H:%M"), window.latest.strftime("%H:%M")
    sunny = DAYLIGHT[0] <= window.earliest and window.latest <= DAYLIGHT[1]
    text = f"export only between {earliest} and {latest} local time" + (": a PV system." if sunny else ".")
    return Finding("pv_window", text, {"earliest": earliest, "latest": latest, "days": len(window.per_day)})


def _routine(facts: ChannelFacts, what: str) -> Finding | None:
    if facts.daily_peak is None:
        return None
    r = facts.daily_peak[1]
    weekly = f", {facts.weekly_peak[1]:.2f} at one week" if facts.weekly_peak else ""
    if r >= ROUTINE_R:
        text = f"A daily rhythm: the {what}'s autocorrelation is {r:.2f} at 24 h{weekly}."
    else:
        text = (
            f"No daily routine: the {what}'s autocorrelation at 24 h is {r:.2f}{weekly} "
            f"(a curve that repeats every day shows {ROUTINE_R} or more)."
        )
    return Finding("daily_rhythm", text, {"r_day": r, "r_week": facts.weekly_peak[1] if facts.weekly_peak else None})


def _floor(facts: ChannelFacts) -> Finding | None:
    per_hour = 3600 / facts.channel.interval_s
    floor_kwh = facts.distribution["p25"]
    if floor_kwh <= 0 or facts.total_kwh <= 0:
        return None
    floor_kw = floor_kwh * per_hour
    share = floor_kwh * facts.coverage.readings / facts.total_kwh
    text = (
        f"An always-on floor of {floor_kw:.3f} kW (the 25th percentile of interval power) runs day and night: "
        f"{share:.0%} of the consumption. The night minimum of the hourly mean is {facts.base_load_kw:.3f} kW."
    )
    return Finding(
        "base_load", text, {"floor_kw": rounded(floor_kw), "share": rounded(share), "night_min_kw": facts.base_load_kw}
    )


def _bursts(facts: ChannelFacts) -> Finding | None:
    share = facts.top_decile_share
    if share < BURST_SHARE:
        return None
    peak_kw = facts.distribution["max"] * 3600 / facts.channel.interval_s
    text = (
        f"Consumption comes in bursts: the busiest 10% of intervals carry {share:.0%} of the energy, "
        f"peaking at {peak_kw:.2f} kW."
    )
    return Finding("bursts", text, {"top_decile_share": share, "peak_kw": rounded(peak_kw)})


def _peak_hours(facts: ChannelFacts) -> Finding:
    top = facts.hourly_kw.nlargest(3)
    hours = [int(h) for h in top.index]
    weekday_evening = facts.profile_kw.loc[0:4, list(EVENING_HOURS)].to_numpy().mean()
    weekday_day = facts.profile_kw.loc[0:4].drop(columns=list(EVENING_HOURS)).to_numpy().mean()
    listed = ", ".join(f"{h:02d}:00" for h in hours)
    if all(h in EVENING_HOURS for h in hours[:2]) and weekday_evening > weekday_day:
        text = f"Consumption peaks on weekday evenings: the highest hours are {listed} local time."
    else:
        text = f"The highest mean hours are {listed} local time ({top.iloc[0]:.3f} kW at {hours[0]:02d}:00)."
    return Finding("peak_hours", text, {"hours": hours, "kw": [rounded(v) for v in top]})


def _night(facts: ChannelFacts) -> Finding:
    text = f"{facts.night_share:.0%} of the consumption falls between 00:00 and 06:00 local time."
    return Finding("night", text, {"share": facts.night_share})


def _weekday_weekend(facts: ChannelFacts) -> Sequence[Finding]:
    weekday, weekend = facts.weekday_daily_kwh, facts.weekend_daily_kwh
    if weekday is None or weekend is None or weekday == 0:
        return []
    change = weekend / weekday - 1
    more = "more" if change >= 0 else "less"
    text = (
        f"A weekend day uses {abs(change):.0%} {more} than a weekday "
        f"({weekend:.2f} against {weekday:.2f} kWh on average)."
    )
    return [Finding("weekday_weekend", text, {"weekday_kwh": weekday, "weekend_kwh": weekend})]


def _largest_day(facts: ChannelFacts) -> Finding:
    day = pd.Timestamp(facts.daily_kwh.idxmax())  # type: ignore[arg-type]  # the index holds dates
    weekday = WEEKDAYS[day.weekday()]
    text = f"The largest day was {weekday} {day.day} {day:%B %Y} with {_kwh(float(facts.daily_kwh.max()))}."
    return Finding("largest_day", text, {"date": f"{day:%Y-%m-%d}", "kwh": float(facts.daily_kwh.max())})


def _kwh(value: float) -> str:
    return f"{value:,.2f} kWh"


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M}"
