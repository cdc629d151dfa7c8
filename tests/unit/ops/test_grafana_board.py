"""The Grafana board (infra/grafana/dashboards/meterflow.json) checked against the code: every panel's query
parses (promtool checks it as a recording rule) and uses metrics and labels the services export or the
rules record, and the board has the rows an on-call needs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from prometheus_tools import board_expressions, board_panels, exported_metrics, recorded_names, tool, unknown_metrics


def test_every_panel_query_parses(tmp_path: Path) -> None:
    as_rules = {
        "groups": [
            {
                "name": "board",
                "rules": [{"record": f"board:query_{i}", "expr": expr} for i, expr in enumerate(board_expressions())],
            }
        ]
    }
    path = tmp_path / "board_rules.yml"
    path.write_text(yaml.safe_dump(as_rules))
    done = subprocess.run([tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_panel_query_uses_exported_metrics_and_labels() -> None:
    exported, recorded = exported_metrics(), recorded_names()
    problems = {expr: unknown_metrics(expr, exported, recorded) for expr in board_expressions()}
    assert {expr: found for expr, found in problems.items() if found} == {}


def test_the_board_has_rows_for_freshness_completeness_and_slo_burn() -> None:
    panels = board_panels()
    rows = [panel["title"] for panel in panels if panel["type"] == "row"]
    assert {"Freshness", "Completeness", "SLO burn"} <= set(rows)
    for panel in panels:
        if panel["type"] != "row":
            assert panel.get("targets"), f"panel {panel['title']!r} has no query"
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
