"""The report's figures as inline SVG (matplotlib, Agg): no file, no network, text kept as text.

Each function takes a channel's figures and returns one ``<svg>`` element as a string. The SVG id salt is
fixed, so the same data gives byte-identical figures (reproducible reports, stable test snapshots).
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from meterflow_cli.explore.analysis import WEEKDAYS, ChannelFacts

plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "meterflow", "font.size": 9, "axes.grid": True})
WIDE = (9.0, 2.8)
SQUARE = (4.5, 2.8)


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.tight_layout()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def load_curve(facts: ChannelFacts) -> str:
    """Mean power per interval over the period, local time."""
    figure, axes = plt.subplots(figsize=WIDE)
    curve, days = facts.power_kw, facts.daily_kwh.index
    axes.plot(curve.index, curve.to_numpy(), linewidth=0.6)
    axes.set_ylabel("kW")
    axes.set_title(f"Load curve, {days[0]} to {days[-1]} ({facts.tz})")
    figure.autofmt_xdate()
    return _svg(figure)


def distribution(facts: ChannelFacts) -> str:
    figure, axes = plt.subplots(figsize=SQUARE)
    values = facts.power_kw.to_numpy()
    axes.hist(values, bins=60)
    axes.set_yscale("log")
    axes.set_xlabel("kW per interval")
    axes.set_ylabel("intervals (log)")
    axes.set_title("Distribution of interval power")
    return _svg(figure)


def daily_totals(facts: ChannelFacts) -> str:
    figure, axes = plt.subplots(figsize=WIDE)
    days = pd.to_datetime(pd.Index(facts.daily_kwh.index))
    colours = ["#c0504d" if d.weekday() >= 5 else "#4f81bd" for d in days]
    axes.bar(days, facts.daily_kwh.to_numpy(), color=colours, width=0.8)
    axes.set_ylabel("kWh per day")
    axes.set_title("Daily totals (weekends in red)")
    figure.autofmt_xdate()
    return _svg(figure)


def weekday_hour_heatmap(facts: ChannelFacts) -> str:
    figure, axes = plt.subplots(figsize=WIDE)
    image = axes.imshow(facts.profile_kw.to_numpy(dtype=float), aspect="auto", cmap="viridis")
    axes.set_yticks(range(7), [d[:3] for d in WEEKDAYS])
    axes.set_xticks(range(0, 24, 2), [f"{h:02d}" for h in range(0, 24, 2)])
    axes.set_xlabel(f"hour ({facts.tz})")
    axes.grid(False)
    figure.colorbar(image, ax=axes, label="mean kW")
    axes.set_title("Weekday × hour: mean power")
    return _svg(figure)


def autocorrelation(facts: ChannelFacts) -> str:
    figure, axes = plt.subplots(figsize=WIDE)
    acf = facts.autocorrelation
    axes.plot(acf.index, acf.to_numpy(), linewidth=0.8)
    for label, peak in (("1 day", facts.daily_peak), ("1 week", facts.weekly_peak)):
        if peak is not None:
            axes.axvline(peak[0], color="#c0504d", linestyle="--", linewidth=0.8)
            axes.annotate(f"{label}: {peak[1]:.2f}", (peak[0], peak[1]), textcoords="offset points", xytext=(4, 6))
    axes.set_xlabel("lag (hours)")
    axes.set_ylabel("r")
    axes.set_xticks(np.arange(0, acf.index[-1] + 1, 24))
    axes.set_title("Autocorrelation")
    return _svg(figure)


def hourly_profile(facts: ChannelFacts) -> str:
    """Mean power per local hour, with the night window and the base load marked."""
    figure, axes = plt.subplots(figsize=SQUARE)
    axes.bar(facts.hourly_kw.index, facts.hourly_kw.to_numpy(), color="#4f81bd")
    axes.axvspan(-0.5, 5.5, color="#999999", alpha=0.2, label="night")
    axes.axhline(facts.base_load_kw, color="#c0504d", linestyle="--", linewidth=0.8, label="night minimum")
    axes.set_xlabel(f"hour ({facts.tz})")
    axes.set_ylabel("mean kW")
    axes.legend(loc="upper left")
    axes.set_title("Mean power by hour of day")
    return _svg(figure)


def pv_window(facts: ChannelFacts) -> str | None:
    window = facts.pv_window
    if window is None:
        return None
    figure, axes = plt.subplots(figsize=WIDE)
    days = pd.to_datetime(pd.Index(window.per_day.index))

    def hours(column: str) -> list[float]:
        return [t.hour + t.minute / 60 for t in window.per_day[column]]

    first, last = hours("first"), hours("last")
    axes.vlines(days, first, last, linewidth=4, color="#f0a30a")
    axes.set_ylim(0, 24)
    axes.set_yticks(range(0, 25, 3))
    axes.set_ylabel(f"local hour ({facts.tz})")
    axes.set_title("Export window per day (first to last non-zero interval)")
    figure.autofmt_xdate()
    return _svg(figure)


def import_export(imports: ChannelFacts, exports: ChannelFacts) -> str:
    figure, axes = plt.subplots(figsize=WIDE)
    both = pd.DataFrame({"import": imports.daily_kwh, "export": exports.daily_kwh}).fillna(0.0)
    days = pd.to_datetime(pd.Index(both.index))
    axes.bar(days, both["import"].to_numpy(), width=0.4, align="edge", label="import")
    axes.bar(days, -both["export"].to_numpy(), width=0.4, align="edge", label="export (negative)")
    axes.axhline(0, color="black", linewidth=0.6)
    axes.set_ylabel("kWh per day")
    axes.legend(loc="upper left")
    axes.set_title("Import and export per day")
    figure.autofmt_xdate()
    return _svg(figure)
