"""The writer as its real console script in the writer's integration and reliability tests: started on this
test's topics and database (the ``writers`` fixture stops them all), its metrics and readiness.

Imported as ``integration.writer.writer_processes`` (tests/ is on sys.path through tests/conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from meterflow_harness.metrics import metric_value
from meterflow_harness.paths import BIN
from meterflow_harness.ports import free_port
from meterflow_harness.processes import ServiceProcess, service_env
from meterflow_harness.roles import WRITER, as_login


def start_writer(
    kafka: str, readings_topic: str, dlq_topic: str, dsn: str, log_dir: Path, name: str = "writer", **env: str
) -> ServiceProcess:
    """The writer's console script on this test's topics and database (cf. Pipeline.writer)."""
    port = free_port()
    overrides = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        # The writer's least-privilege login (migration 0009), as in production.
        "DATABASE_URL": as_login(dsn, WRITER),
        "LOG_LEVEL": "INFO",
        "WRITER_GROUP_ID": f"writer-{readings_topic}",
        "WRITER_READINGS_TOPIC": readings_topic,
        "WRITER_DLQ_TOPIC": dlq_topic,
        "WRITER_OPS_PORT": str(port),
        "WRITER_BATCH_MAX_S": "0.2",
        # The broker's minimum: a SIGKILLed writer's partitions move after 6 s, not 10.
        "WRITER_KAFKA__SESSION_TIMEOUT_S": "6",
        **env,
    }
    return ServiceProcess(
        name,
        [str(BIN / "meterflow-writer")],
        service_env(overrides),
        log_dir / f"{name}.log",
        ops_url=f"http://127.0.0.1:{port}",
    ).start()


WriterFactory = Callable[..., ServiceProcess]


@pytest.fixture
def writers(servers: Any, topics: Any, database: str, log_dir: Path) -> Iterator[WriterFactory]:
    """Start writer processes (``writers(name="a", WRITER_...="...")``); all are stopped after the test."""
    started: list[ServiceProcess] = []

    def factory(name: str = "writer", **env: str) -> ServiceProcess:
        process = start_writer(servers.kafka, topics.readings, topics.dlq, database, log_dir, name=name, **env)
        started.append(process)
        return process

    yield factory
    unclean = []
    for process in started:  # stop every one of them before failing for any
        if process.process is not None and process.process.poll() is not None:
            continue  # the test killed it, or it died and the test said so
        if process.stop(timeout=20) != 0:
            unclean.append(f"{process.name} did not stop cleanly:\n{process.tail()}")
    if unclean:
        pytest.fail("\n".join(unclean))


def metric(writer: ServiceProcess, name: str, labels: str = "") -> float:
    return metric_value(writer.metrics(), name, labels)


def readiness(writer: ServiceProcess) -> int:
    """HTTP status of /readyz (0 when it does not answer)."""
    try:
        return writer.get("/readyz", timeout=3).status_code
    except httpx.HTTPError:
        return 0
