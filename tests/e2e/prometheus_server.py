"""A real Prometheus (Debian's binary) for one test: own port, own data folder, a scrape of 1 s and the
project's rules compressed in time (windows of seconds, `for: 2s`), so an alert that takes an hour in
production fires within seconds; and the PostgreSQL cluster of a test's own (infra/timescale/pg.sh on a free
port) that a test may stop without touching the shared one."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from meterflow_harness.paths import REPO
from meterflow_harness.ports import free_port
from meterflow_harness.waiting import wait_until
from prometheus_tools import rule_groups, tool

# Production windows -> test windows: each stays longer than a few scrapes (rate needs two samples) and
# their order is kept, so the burn-rate logic (long AND short window) is what the test exercises.
WINDOWS = {"3d": "70s", "1d": "60s", "6h": "50s", "2h": "40s", "1h": "30s", "30m": "20s", "15m": "20s", "5m": "10s"}
# The rule whose window must outlive the test's faults: a dead instance's last time lag export.
KEEP_WINDOWS = {"meterflow:consumer_time_lag_seconds"}
# Thresholds in seconds of waiting, scaled for the test; the original text must be in the rule (a rule
# change fails here loudly instead of silently testing something else).
THRESHOLDS = {"MeterflowConsumerTimeLag": ("> 120", "> 5"), "MeterflowDataNotQueryable": ("> 900", "> 10")}
FOR = "2s"


def compressed_rules() -> dict[str, Any]:
    groups = rule_groups()
    for group in groups:
        for rule in group["rules"]:
            name = rule.get("alert") or rule["record"]
            if name not in KEEP_WINDOWS:
                rule["expr"] = re.sub(r"\[(\w+)\]", lambda m: f"[{WINDOWS.get(m.group(1), m.group(1))}]", rule["expr"])
            if name in THRESHOLDS:
                original, scaled = THRESHOLDS[name]
                assert original in rule["expr"], f"{name}: expected {original!r} in its expression"
                rule["expr"] = rule["expr"].replace(original, scaled)
            if "for" in rule:
                rule["for"] = FOR
    return {"groups": groups}


@dataclass
class Prometheus:
    url: str
    targets_file: Path
    http: httpx.Client

    def set_targets(self, targets: Mapping[str, str]) -> None:
        """Scrape ``targets`` (job -> host:port); file discovery notices the change on its own."""
        groups = [{"targets": [target], "labels": {"job": job}} for job, target in targets.items()]
        temporary = self.targets_file.with_suffix(".tmp")
        temporary.write_text(yaml.safe_dump(groups))
        temporary.replace(self.targets_file)

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return alerts

    def firing(self) -> list[dict[str, str]]:
        return [alert["labels"] for alert in self.alerts() if alert["state"] == "firing"]

    def label_names_by_metric(self) -> dict[str, frozenset[str]]:
        """Every series Prometheus holds now: metric name -> the label names seen on it."""
        found: dict[str, set[str]] = {}
        for series in self.get("/api/v1/series", **{"match[]": '{__name__=~"meterflow.*|up"}'}):
            found.setdefault(series["__name__"], set()).update(set(series) - {"__name__"})
        return {name: frozenset(labels) for name, labels in found.items()}

    def up(self) -> dict[str, float]:
        return {s["metric"]["job"]: float(s["value"][1]) for s in self.get("/api/v1/query", query="up")["result"]}


@contextmanager
def prometheus(folder: Path) -> Iterator[Prometheus]:
    folder.mkdir(parents=True, exist_ok=True)
    rules = folder / "rules.yml"
    rules.write_text(yaml.safe_dump(compressed_rules(), sort_keys=False))
    targets = folder / "targets.yml"
    targets.write_text("[]\n")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {"job_name": "meterflow", "file_sd_configs": [{"files": [str(targets)], "refresh_interval": "1s"}]}
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            tool("prometheus"),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    with httpx.Client() as http:
        try:

            def ready() -> bool:
                assert process.poll() is None, (folder / "prometheus.log").read_text()[-3000:]
                try:
                    return http.get(f"{url}/-/ready", timeout=1).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_until(ready, 60, "Prometheus ready")
            yield Prometheus(url, targets, http)
        finally:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            log.close()


@dataclass
class OwnPostgres:
    """A PostgreSQL cluster of this test only (pg.sh with a free port and its own folder)."""

    env: dict[str, str]

    @property
    def dsn(self) -> str:
        return f"postgresql://meterflow:meterflow@127.0.0.1:{self.env['PGPORT']}/meterflow"

    def run(self, command: str) -> None:
        subprocess.run(
            ["bash", "infra/timescale/pg.sh", command],
            cwd=REPO,
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            timeout=180,
        )


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    # /var/tmp: as root, pg.sh runs the server as the postgres user, who cannot enter a private folder.
    folder = Path("/var/tmp") / f"meterflow-prometheus-test-{os.getpid()}-{time.monotonic_ns()}"
    folder.mkdir(parents=True)
    os.chmod(folder, 0o755)
    own = OwnPostgres({"PGPORT": str(free_port()), "MF_PG_DIR": str(folder / "pg")})
    try:
        own.run("start")
        yield own
    finally:
        try:
            own.run("stop")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
