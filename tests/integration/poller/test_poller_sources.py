"""Several sources in one poller (POLLER_SOURCES_FILE): a source whose endpoint is unreachable or whose
bucket does not exist fails alone, visibly per source, while the others publish."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import Pollers
from meterflow_harness.metrics import metric_value
from meterflow_harness.pipeline import Topics
from meterflow_harness.ports import free_port
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import eventually
from poller_runs import document, latest_checkpoints

pytestmark = pytest.mark.integration


async def test_a_broken_source_fails_alone(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="meters/m1.json", Body=document(30))
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""
sources:
  - name: good
    bucket: {bucket}
    prefixes: [meters/]
  - name: unreachable
    bucket: {bucket}-elsewhere
    s3_endpoint_url: http://127.0.0.1:{free_port()}
  - name: missing
    bucket: {bucket}-missing
"""
    )
    poller = pollers.start(POLLER_SOURCES_FILE=str(sources))

    async def good_published_and_others_failing() -> bool:
        text = poller.metrics()
        latest = await latest_checkpoints(servers.kafka, topics.checkpoints)
        return (
            f"{bucket}/meters/m1.json" in latest
            and metric_value(text, "meterflow_poller_source_errors_total", 'source="unreachable"') >= 1
            and metric_value(text, "meterflow_poller_source_errors_total", 'kind="s3_config",source="missing"') >= 1
        )

    await eventually(good_published_and_others_failing, 90, "the good source published", interval=0.5, alive=[poller])
    text = poller.metrics()
    assert metric_value(text, "meterflow_poller_source_up", 'source="good"') == 1
    assert metric_value(text, "meterflow_poller_source_up", 'source="missing"') == 0
    assert metric_value(text, "meterflow_poller_source_objects_total", 'outcome="published",source="good"') == 1
    ready = poller.get("/readyz")
    assert ready.status_code == 503 and "missing" in ready.text  # the failing sources show, the process stays up


async def test_a_bad_sources_file_stops_the_start(pollers: Pollers, tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources: [{name: a, bucket: bbb, password: hunter2}]")
    process = pollers.start(POLLER_SOURCES_FILE=str(sources))
    assert process.wait_exit(30) == 2
    assert "password" in process.tail() and "hunter2" not in process.tail()
