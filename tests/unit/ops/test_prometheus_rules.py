"""The Prometheus rules (infra/prometheus/alerts.yml) as a tested feature: promtool accepts them, every
alert group has its `promtool test rules` file with a series that fires each alert and one that must not,
every alert names its severity and a runbook section that exists, and every metric and label a rule uses
is one the services export."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml
from prometheus_tools import (
    RULE_TESTS,
    RULES,
    alerts,
    exported_metrics,
    recorded_names,
    rule_groups,
    rules,
    runbook_anchors,
    tool,
    unknown_metrics,
)

ALERT_GROUPS = [group for group in rule_groups() if any("alert" in rule for rule in group["rules"])]


def run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_promtool_accepts_the_rules() -> None:
    run(tool("promtool"), "check", "rules", str(RULES))


def rule_tests_of(group: dict[str, Any]) -> Any:
    return RULE_TESTS / f"{group['name'].removeprefix('meterflow-')}.test.yml"


@pytest.mark.parametrize("group", ALERT_GROUPS, ids=lambda group: group["name"])
def test_each_alert_group_passes_its_promtool_unit_tests(group: dict[str, Any]) -> None:
    path = rule_tests_of(group)
    assert path.exists(), f"alert group {group['name']} has no promtool unit tests in {path}"
    run(tool("promtool"), "test", "rules", str(path))


@pytest.mark.parametrize("group", ALERT_GROUPS, ids=lambda group: group["name"])
def test_each_alert_has_a_series_that_fires_it_and_one_that_must_not(group: dict[str, Any]) -> None:
    cases = [
        case
        for test in yaml.safe_load(rule_tests_of(group).read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]
    for rule in group["rules"]:
        if "alert" not in rule:
            continue
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case.get("exp_alerts") for case in mine), f"nothing in the tests fires {rule['alert']}"
        assert any(not case.get("exp_alerts") for case in mine), f"no test shows {rule['alert']} staying quiet"


def test_every_alert_has_a_severity_and_a_runbook_section() -> None:
    anchors = runbook_anchors()
    for alert in alerts():
        assert alert["labels"]["severity"] in {"page", "ticket"}, alert["alert"]
        url = alert["annotations"]["runbook_url"]
        assert url == f"docs/runbook.md#{alert['alert'].lower()}", f"{alert['alert']}: runbook_url {url}"
        assert url.split("#")[1] in anchors, f"{alert['alert']}: docs/runbook.md has no heading {alert['alert']}"


def test_every_metric_and_label_a_rule_uses_is_exported() -> None:
    exported, recorded = exported_metrics(), recorded_names()
    problems = {}
    for rule in rules():
        found = unknown_metrics(rule["expr"], exported, recorded)
        if found:
            problems[rule.get("alert") or rule["record"]] = found
    assert problems == {}


def test_the_api_latency_histogram_has_the_slo_threshold_as_a_bucket() -> None:
    from meterflow_api.metrics import REQUEST_SECONDS

    assert 0.25 in REQUEST_SECONDS._upper_bounds  # the SLO reads the le="0.25" bucket
