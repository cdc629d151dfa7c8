"""The exploration report: the findings and figures of every channel as one self-contained HTML page
(inline SVG and CSS, no script, nothing fetched at view time), or the same findings as JSON data."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from meterflow_cli.explore import charts
from meterflow_cli.explore.analysis import ChannelFacts, Finding
from meterflow_cli.explore.findings import channel_findings, pair_findings

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem;color:#222;background:#fff}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2.5rem;border-bottom:1px solid #ddd}h3{font-size:1rem}
table{border-collapse:collapse;font-size:.9rem}td,th{padding:.2rem .6rem;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}.findings li{margin:.3rem 0}.grid{display:flex;flex-wrap:wrap;gap:1rem}
svg{max-width:100%;height:auto}
@media (prefers-color-scheme: dark){body{background:#111;color:#ddd}svg{background:#fff}}
"""


@dataclass(frozen=True, slots=True)
class Exploration:
    """Every channel's figures and findings, plus what an import and an export channel say together."""

    channels: list[ChannelFacts]
    findings: dict[str, list[Finding]]  # key: "<muid> <obis>", and "site" for the pair
    generated_at: datetime

    @classmethod
    def of(cls, channels: list[ChannelFacts]) -> Exploration:
        findings = {_key(f): channel_findings(f) for f in channels}
        pair = _import_export_pair(channels)
        if pair is not None:
            findings["site"] = pair_findings(*pair)
        return cls(channels, findings, datetime.now(UTC))


def _key(facts: ChannelFacts) -> str:
    return f"{facts.channel.muid} {facts.channel.obis}"


def _import_export_pair(channels: list[ChannelFacts]) -> tuple[ChannelFacts, ChannelFacts] | None:
    imports = [f for f in channels if f.channel.direction == "import" and f.channel.quantity == "active_energy"]
    exports = [f for f in channels if f.channel.direction == "export" and f.channel.quantity == "active_energy"]
    return (imports[0], exports[0]) if len(imports) == 1 and len(exports) == 1 else None


def as_json(exploration: Exploration) -> dict[str, Any]:
    """The findings and the headline figures of each channel as plain data."""
    return {
        "generated_at": exploration.generated_at.isoformat(),
        "channels": [
            {
                "muid": f.channel.muid,
                "obis": f.channel.obis,
                "quantity": f.channel.quantity,
                "direction": f.channel.direction,
                "unit": f.channel.unit,
                "tz": f.tz,
                "total_kwh": f.total_kwh,
                "coverage": {
                    "first": f.coverage.first.isoformat(),
                    "last": f.coverage.last.isoformat(),
                    "readings": f.coverage.readings,
                    "expected": f.coverage.expected,
                    "gaps": [[a.isoformat(), b.isoformat()] for a, b in f.coverage.gaps],
                    "quality": f.coverage.quality,
                    "zeros": f.coverage.zeros,
                    "negatives": f.coverage.negatives,
                },
                "distribution": f.distribution,
                "daily_kwh": {str(k): v for k, v in f.daily_kwh.items()},
                "weekly_kwh": {str(k): v for k, v in f.weekly_kwh.items()},
                "monthly_kwh": {str(k): v for k, v in f.monthly_kwh.items()},
                "base_load_kw": f.base_load_kw,
                "night_share": f.night_share,
                "daily_autocorrelation": f.daily_peak[1] if f.daily_peak else None,
                "weekly_autocorrelation": f.weekly_peak[1] if f.weekly_peak else None,
                "pv_window": (
                    {"earliest": f.pv_window.earliest.strftime("%H:%M"), "latest": f.pv_window.latest.strftime("%H:%M")}
                    if f.pv_window
                    else None
                ),
            }
            for f in exploration.channels
        ],
        "findings": {
            key: [{"code": x.code, "text": x.text, "values": x.values} for x in findings]
            for key, findings in exploration.findings.items()
        },
    }


def as_html(exploration: Exploration) -> str:
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        "<title>Meterflow exploration report</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Exploration report</h1>",
        f"<p>Generated {exploration.generated_at:%Y-%m-%d %H:%M} UTC by <code>meterflow explore</code>.</p>",
    ]
    site = exploration.findings.get("site")
    pair = _import_export_pair(exploration.channels)
    if site and pair:
        parts += ["<h2>Import and export</h2>", _findings_list(site), charts.import_export(*pair)]
    for facts in exploration.channels:
        parts += _channel_section(facts, exploration.findings[_key(facts)])
    parts.append("</body></html>")
    return "\n".join(parts)


def _channel_section(facts: ChannelFacts, findings: list[Finding]) -> list[str]:
    c = facts.channel
    title = f"{c.muid} · {c.obis} ({c.direction or c.quantity})"
    section = [
        f"<h2>{html.escape(title)}</h2>",
        "<h3>Findings</h3>",
        _findings_list(findings),
        "<h3>Coverage and quality</h3>",
        _table(
            [
                ("first interval (UTC)", f"{facts.coverage.first:%Y-%m-%d %H:%M}"),
                ("last interval (UTC)", f"{facts.coverage.last:%Y-%m-%d %H:%M}"),
                ("readings / expected", f"{facts.coverage.readings:,} / {facts.coverage.expected:,}"),
                ("gaps", str(len(facts.coverage.gaps))),
                ("zero values", f"{facts.coverage.zeros:,}"),
                ("negative values", f"{facts.coverage.negatives:,}"),
                *((f"quality '{q}'", f"{n:,}") for q, n in sorted(facts.coverage.quality.items())),
            ]
        ),
        "<h3>Distribution (kWh per interval)</h3>",
        "<div class='grid'>",
        _table([(name, f"{value:g}") for name, value in facts.distribution.items()]),
        charts.distribution(facts),
        "</div>",
        charts.load_curve(facts),
        "<h3>Daily, weekly and monthly totals</h3>",
        charts.daily_totals(facts),
        "<div class='grid'>",
        _table([(str(k), f"{v:g} kWh") for k, v in facts.weekly_kwh.items()]),
        _table([(str(k), f"{v:g} kWh") for k, v in facts.monthly_kwh.items()]),
        "</div>",
        "<h3>Weekday × hour</h3>",
        charts.weekday_hour_heatmap(facts),
        "<h3>Autocorrelation</h3>",
        charts.autocorrelation(facts),
        "<h3>Base load and night consumption</h3>",
        charts.hourly_profile(facts),
    ]
    pv = charts.pv_window(facts)
    if pv is not None:
        section += ["<h3>Export window</h3>", pv]
    return section


def _findings_list(findings: list[Finding]) -> str:
    items = "".join(f"<li>{html.escape(f.text)}</li>" for f in findings)
    return f"<ul class='findings'>{items}</ul>"


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td></tr>" for a, b in rows)
    return f"<table>{body}</table>"
