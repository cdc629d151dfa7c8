"""The Alertmanager example (infra/alertmanager/alertmanager.yml): amtool accepts it, and every severity our
alerts carry reaches its receiver (page the on-call, ticket the queue)."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_tools import ALERTMANAGER, alerts, tool

RECEIVER_OF = {"page": "on-call", "ticket": "tickets"}


def amtool(*args: str) -> str:
    done = subprocess.run([tool("amtool"), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"amtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_amtool_accepts_the_config() -> None:
    amtool("check-config", str(ALERTMANAGER))


@pytest.mark.parametrize("alert", alerts(), ids=lambda alert: alert["alert"])
def test_each_alert_routes_to_the_receiver_of_its_severity(alert: dict[str, object]) -> None:
    labels = alert["labels"]
    assert isinstance(labels, dict)
    severity = labels["severity"]
    routed = amtool("config", "routes", "test", f"--config.file={ALERTMANAGER}", f"alertname={alert['alert']}",
                    f"severity={severity}")  # fmt: skip
    assert routed.split() == [RECEIVER_OF[severity]]
