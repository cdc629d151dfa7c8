"""Test helpers for the operations files: where the Prometheus rules, the Grafana board and the
Alertmanager example live, the Debian tools that check them (`make prometheus-tools` installs them), and a
small reader of the metric selectors a PromQL expression uses.

The reader is deliberately simple (no PromQL grammar in Python exists that we trust more than promtool):
promtool proves an expression parses; this only lists which metric names, label matchers and grouping
labels it names, so the tests can check them against what the services export.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from meterflow_harness.paths import REPO

RULES = REPO / "infra" / "prometheus" / "alerts.yml"
RULE_TESTS = REPO / "infra" / "prometheus" / "tests"
BOARD = REPO / "infra" / "grafana" / "dashboards" / "meterflow.json"
ALERTMANAGER = REPO / "infra" / "alertmanager" / "alertmanager.yml"
RUNBOOK = REPO / "docs" / "runbook.md"

INSTALL_HINT = "make prometheus-tools installs them (apt-get install prometheus prometheus-alertmanager)"

# Labels Prometheus itself adds to every scraped series.
TARGET_LABELS = {"job", "instance"}

# Words of PromQL that look like metric names: functions, aggregations, operators, modifiers.
PROMQL_WORDS = {
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values",
    "group", "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "rate", "irate", "increase", "delta", "idelta", "deriv", "time", "vector", "scalar", "abs",
    "absent", "absent_over_time", "histogram_quantile", "last_over_time", "max_over_time", "min_over_time",
    "avg_over_time", "sum_over_time", "count_over_time", "clamp_min", "clamp_max", "round", "resets",
    "changes", "label_replace", "label_join", "sort", "sort_desc", "timestamp", "predict_linear", "inf", "nan",
}  # fmt: skip


def tool(name: str) -> str:
    """The path of a Prometheus tool (promtool, amtool, prometheus); skipped (a failure in CI) when absent."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
    if path is None:
        pytest.skip(f"{name} is missing: {INSTALL_HINT}")
    return path


def rule_groups() -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = yaml.safe_load(RULES.read_text())["groups"]
    return groups


def rules() -> Iterator[dict[str, Any]]:
    for group in rule_groups():
        yield from group["rules"]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def recorded_names() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def board_panels() -> list[dict[str, Any]]:
    import json

    board = json.loads(BOARD.read_text())
    panels: list[dict[str, Any]] = []
    for panel in board["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels folded into a collapsed row
    return panels


def board_expressions() -> list[str]:
    return [target["expr"] for panel in board_panels() for target in panel.get("targets", []) if "expr" in target]


@dataclass(frozen=True)
class Selector:
    """One vector selector: a metric name (or a __name__ regex) and the label names its matchers use."""

    name: str | None
    name_pattern: str | None
    labels: frozenset[str]

    def matches(self, metric: str) -> bool:
        if self.name is not None:
            return metric == self.name
        return self.name_pattern is not None and re.fullmatch(self.name_pattern, metric) is not None


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SELECTOR = re.compile(r"(?<![\w:])([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}|(?<![\w:.\"])([a-zA-Z_:][\w:]*)(?![\w:(])")
_MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")


def selectors(expr: str) -> list[Selector]:
    """The vector selectors of ``expr`` (metric names and __name__ regexes, with their matchers' labels)."""
    found: list[Selector] = []
    without_groupings = _GROUPING.sub(" ", expr)
    without_ranges = re.sub(r"\[[^\]]*\]", " ", without_groupings)
    without_templates = re.sub(r"\{\{.*?\}\}", " ", without_ranges)
    for match in _SELECTOR.finditer(_mask_strings_outside_braces(without_templates)):
        name, matchers, bare = match.group(1), match.group(2), match.group(3)
        if matchers is not None:
            pairs = _MATCHER.findall(matchers)
            pattern = next((value for label, _, value in pairs if label == "__name__"), None)
            labels = frozenset(label for label, _, _ in pairs if label != "__name__")
            found.append(Selector(name, pattern if name is None else None, labels))
        elif bare is not None and bare not in PROMQL_WORDS and not re.fullmatch(r"\d.*", bare):
            found.append(Selector(bare, None, frozenset()))
    return [s for s in found if s.name is None or s.name not in PROMQL_WORDS]


def grouping_labels(expr: str) -> set[str]:
    """Labels named in by/without/on/ignoring/group_left/group_right clauses."""
    return {label.strip() for group in _GROUPING.findall(expr) for label in group.split(",") if label.strip()}


def _mask_strings_outside_braces(expr: str) -> str:
    """Blank string literals outside selectors (label_replace arguments), keep the ones inside braces."""
    out, depth, i = [], 0, 0
    while i < len(expr):
        char = expr[i]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
        if char == '"' and depth == 0:
            literal = _STRING.match(expr, i)
            if literal:
                out.append(" " * len(literal.group(0)))
                i = literal.end()
                continue
        out.append(char)
        i += 1
    return "".join(out)


def exported_metrics() -> dict[str, frozenset[str]]:
    """Every sample name the services can export, with its label names, from their metric declarations
    (imported, not scraped: the live check is tests/e2e/test_prometheus_alerts.py)."""
    import meterflow_api.metrics
    import meterflow_normalizer.metrics
    import meterflow_poller.metrics
    import meterflow_writer.freshness
    import meterflow_writer.metrics
    from prometheus_client.metrics import MetricWrapperBase

    modules = (
        meterflow_api.metrics,
        meterflow_normalizer.metrics,
        meterflow_poller.metrics,
        meterflow_writer.metrics,
        meterflow_writer.freshness,
    )
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_count", "_sum")}
    exported: dict[str, frozenset[str]] = {}
    for module in modules:
        for value in vars(module).values():
            if not isinstance(value, MetricWrapperBase):
                continue
            name, labels, kind = value._name, frozenset(value._labelnames), value._type  # no public getters
            for suffix in suffixes[kind]:
                extra = {"le"} if suffix == "_bucket" else set()
                exported[name + suffix] = labels | extra | TARGET_LABELS
    exported["up"] = frozenset(TARGET_LABELS)
    return exported


def unknown_metrics(expr: str, exported: dict[str, frozenset[str]], recorded: set[str]) -> list[str]:
    """What ``expr`` names that nothing exports: unknown metric names, __name__ patterns matching no
    metric, label names a metric does not carry, grouping labels none of its metrics carries."""
    problems: list[str] = []
    carried: set[str] = set()
    for selector in selectors(expr):
        if selector.name is not None and selector.name in recorded:
            carried |= set(selector.labels) | {"job", "topic"}  # recording rules keep their grouping labels
            continue
        names = [metric for metric in exported if selector.matches(metric)]
        if not names:
            problems.append(f"no exported metric {selector.name or selector.name_pattern!r}")
            continue
        for metric in names:
            missing = selector.labels - exported[metric]
            if missing:
                problems.append(f"{metric} has no label {sorted(missing)}")
            carried |= exported[metric]
    for label in grouping_labels(expr) - carried:
        problems.append(f"grouping label {label!r} is on none of the expression's metrics")
    return problems


def runbook_anchors() -> set[str]:
    """GitHub's anchors of the runbook's headings (lower case, spaces to dashes, punctuation dropped)."""
    anchors = set()
    for line in RUNBOOK.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors
