"""Fixtures of the normalizer's integration tests: the worker as its console script on the test's own topics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from meterflow_harness.pipeline import Pipeline, Topics
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers


@pytest.fixture
def normalizer(servers: Servers, topics: Topics, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Starts a healthy normalizer worker with the given NORMALIZER_* settings; stops every one at the end.
    A 6 s session (the broker's minimum) lets a killed worker's partitions move quickly."""
    pipeline = Pipeline(servers, topics, dsn="", bucket="", log_dir=tmp_path, services={})
    started: list[ServiceProcess] = []

    def start(**env: str) -> ServiceProcess:
        service = pipeline.normalizer(NORMALIZER_KAFKA__SESSION_TIMEOUT_S="6", **env).start()
        started.append(service)
        return service.wait_healthy()

    yield start
    for service in started:
        service.stop()
