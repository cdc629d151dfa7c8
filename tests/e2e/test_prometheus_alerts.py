"""Operations proven against a real Prometheus: the services of a pipeline (poller, normalizer, writer, API)
are scraped by Prometheus (Debian's binary, rules compressed in time: e2e/prometheus_server.py); every
metric and label a rule or the Grafana board uses exists; then faults are forced and the alerts awaited
through Prometheus's HTTP API: the writer stopped (time lag, freshness, target down), a poisoned object (dead
letters), the API's database stopped (availability burn). After recovery they resolve."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from meterflow_cli.demo import households
from meterflow_cli.demo_cmd import render
from meterflow_harness.api_keys import admin_key, auth_headers
from meterflow_harness.pipeline import Pipeline, Topics
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import wait_until
from meterflow_schema import migrate
from prometheus_server import OwnPostgres, Prometheus, own_postgres, prometheus
from prometheus_tools import board_expressions, recorded_names, rules, unknown_metrics

pytestmark = pytest.mark.e2e

FAST = {"NORMALIZER_LAG_INTERVAL_S": "1", "WRITER_LAG_INTERVAL_S": "1", "WRITER_COMPLETENESS_INTERVAL_S": "1"}
WRITER_DOWN = {
    ("MeterflowConsumerTimeLag", "meterflow-writer"),
    ("MeterflowDataNotQueryable", "meterflow-writer"),
    ("MeterflowServiceDown", "meterflow-writer"),
}
POISON = {("MeterflowDeadLetters", "meterflow-poller")}
API_DOWN = {("MeterflowApiAvailabilityBurn", None)}


class Traffic:
    """Requests to the API in a thread, like users would send them: what the availability SLI counts."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url
        self.headers = auth_headers(key)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5, headers=self.headers) as client:
            while not self.stop.is_set():
                with contextlib.suppress(httpx.HTTPError):  # an error is the point of some phases
                    client.get("/v1/meters")
                self.stop.wait(0.05)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def api_database() -> Iterator[OwnPostgres]:
    with own_postgres() as own:
        asyncio.run(migrate(own.dsn))
        yield own


def target(service: ServiceProcess) -> str:
    assert service.ops_url is not None
    return service.ops_url.removeprefix("http://")


def scrape_all(prom: Prometheus, p: Pipeline) -> None:
    prom.set_targets({f"meterflow-{name}": target(service) for name, service in p.services.items()})


def alerts_named(firing: list[dict[str, str]]) -> set[tuple[str, str | None]]:
    named: set[tuple[str, str | None]] = set()
    for labels in firing:
        named.add((labels["alertname"], labels.get("job")))
        named.add((labels["alertname"], None))
    return named


def wait_for_alerts(prom: Prometheus, wanted: set[tuple[str, str | None]], timeout: float) -> None:
    def fired() -> bool:
        return wanted <= alerts_named(prom.firing())

    try:
        wait_until(fired, timeout, f"alerts {sorted(map(str, wanted))}", interval=1)
    except AssertionError as error:
        raise AssertionError(f"{error}; firing: {prom.firing()}") from None


def wait_resolved(prom: Prometheus, gone: set[tuple[str, str | None]], timeout: float) -> None:
    def resolved() -> bool:
        return not gone & alerts_named(prom.firing())

    try:
        wait_until(resolved, timeout, f"alerts {sorted(map(str, gone))} resolved", interval=1)
    except AssertionError as error:
        raise AssertionError(f"{error}; firing: {prom.firing()}") from None


def upload_demo(s3: object, bucket: str, key: str, seed: int) -> None:
    (house,) = households(1, seed)
    s3.put_object(Bucket=bucket, Key=key, Body=render(house, date(2026, 1, 1), 1, seed))  # type: ignore[attr-defined]


def test_rules_and_board_hold_against_prometheus_and_alerts_fire_and_resolve(
    servers: Servers,
    topics: Topics,
    database: str,
    bucket: str,
    s3: object,
    log_dir: Path,
    tmp_path: Path,
    api_database: OwnPostgres,
) -> None:
    p = Pipeline(servers, topics, database, bucket, log_dir)
    try:
        p.start(p.normalizer(**FAST))
        p.start(p.writer(WRITER_BATCH_MAX_S="0.2", **FAST))
        p.start(p.api(API_DATABASE_URL=api_database.dsn))
        p.start(p.poller(POLLER_INTERVAL_S="1", POLLER_JITTER_S="0"))
        for service in p.services.values():
            service.wait_healthy()
        with prometheus(tmp_path / "prometheus") as prom, Traffic(p.api_url, asyncio.run(admin_key(api_database.dsn))):
            scrape_all(prom, p)
            upload_demo(s3, bucket, "ok/first.json", seed=1)
            wait_until(lambda: p.sum_metric("writer", "meterflow_writer_rows_total") >= 96, 90, "the first readings")
            wait_until(lambda: set(prom.up().values()) == {1.0} and len(prom.up()) == 4, 60, "every target up")
            assert_every_metric_and_label_exists(prom)

            # Faults: the writer stops while data keeps landing, a poisoned object, the API's database stops.
            p.services["writer"].stop()
            upload_demo(s3, bucket, "ok/second.json", seed=2)
            s3.put_object(Bucket=bucket, Key="bad/poison.json", Body=b"{not json")  # type: ignore[attr-defined]
            api_database.run("stop")
            wait_for_alerts(prom, WRITER_DOWN | POISON | API_DOWN, timeout=120)

            # Recovery: the same writer (same ops port) and the database back; the alerts resolve.
            writer = p.services["writer"]
            p.services["writer"] = ServiceProcess(writer.name, writer.argv, writer.env, writer.log_path, writer.ops_url)
            p.services["writer"].start().wait_healthy()
            api_database.run("start")
            wait_until(lambda: p.sum_metric("writer", "meterflow_writer_rows_total") >= 96, 90, "the second readings")
            wait_resolved(prom, WRITER_DOWN | POISON | API_DOWN, timeout=120)
    finally:
        unclean = p.stop()
    assert unclean == []


def assert_every_metric_and_label_exists(prom: Prometheus) -> None:
    """What Prometheus scraped (and recorded) covers every metric, label and grouping label of the rules and
    the board: the live counterpart of tests/unit/ops."""
    recorded = recorded_names()

    def problems() -> dict[str, list[str]]:
        live = prom.label_names_by_metric()
        found = {}
        for expr in [rule["expr"] for rule in rules()] + board_expressions():
            missing = unknown_metrics(expr, live, recorded)
            if missing:
                found[expr] = missing
        return found

    # A few series appear only after their first event (a poll's outcome, a commit): give them a moment.
    try:
        wait_until(lambda: not problems(), 30, "every metric of the rules and the board scraped", interval=1)
    except AssertionError:
        assert problems() == {}
