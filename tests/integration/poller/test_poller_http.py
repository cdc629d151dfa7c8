"""One installation feeding another: a real ``meterflow-api`` serves the real February files from its
database, and a poller with an http source pulls them through ``/meterdata/measurement`` in weekly windows
and pages: the raw topic carries exactly each meter's 2688 source records, once, and a second run
publishes nothing new."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import Pollers
from meterflow_harness.api_keys import assign_meters, make_key
from meterflow_harness.paths import BIN
from meterflow_harness.ports import free_port
from meterflow_harness.processes import ServiceProcess, service_env
from meterflow_harness.servers import Servers
from poller_runs import latest_checkpoints, raw_batches
from real_data import SHARED_DATA, load_real_files

pytestmark = pytest.mark.integration

UPSTREAM_TENANT = "upstream-reader"
MUIDS = ["1db7649e-9342-4e04-97c7-f0ebb88ed1f8", "95ce3367-cbce-4a4d-bbe3-da082831d7bd"]


def source_records(muid: str) -> list[dict[str, Any]]:
    path = SHARED_DATA / f"{muid}.json"
    if not path.is_file():
        pytest.skip(f"real meter data not found at {path} (set MF_SHARED_DATA to the exnaton-2023-02 folder)")
    records: list[dict[str, Any]] = json.loads(path.read_bytes())["data"]
    return records


@pytest.fixture
async def upstream_api(database: str, tmp_path: Path) -> Any:
    """A second installation's query API, serving the real files to a tenant whose key the poller sends."""
    await load_real_files(database, MUIDS)
    await assign_meters(database, UPSTREAM_TENANT, MUIDS)
    port = free_port()
    api = ServiceProcess(
        "upstream-api",
        [str(BIN / "meterflow-api"), "--port", str(port)],
        service_env({"DATABASE_URL": database}),
        tmp_path / "logs" / "upstream-api.log",
        ops_url=f"http://127.0.0.1:{port}",
    ).start()
    try:
        await asyncio.to_thread(api.wait_healthy, 60)
        yield api
    finally:
        api.stop(timeout=15)


async def test_one_installation_feeds_another(
    servers: Servers, pollers: Pollers, upstream_api: ServiceProcess, tmp_path: Path
) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""
sources:
  - name: upstream
    kind: http
    base_url: {upstream_api.ops_url}
    muids: {json.dumps(MUIDS)}
    measurement: energy
    start: 2023-02-01T00:00:00Z
    until: 2023-03-01T00:00:00Z
    window_s: 604800
    limit: 500
    rate_per_s: 50
    headers_env: {{X-API-Key: UPSTREAM_API_KEY}}
"""
    )
    key = await make_key(upstream_api.env["DATABASE_URL"], UPSTREAM_TENANT)
    env = {"POLLER_SOURCES_FILE": str(sources), "UPSTREAM_API_KEY": key}
    await asyncio.to_thread(pollers.once, 180, 0, **env)

    batches = await raw_batches(servers.kafka, pollers.topics.raw)
    assert {b.source.bucket for b in batches} == {"http:upstream"}
    for muid in MUIDS:
        mine = [b for b in batches if b.source.key.startswith(f"{muid}/energy/")]
        published = [record for b in mine for record in b.records]
        assert len(published) == 2688
        by_time = sorted(published, key=lambda r: r["timestamp"])
        assert by_time == sorted(source_records(muid), key=lambda r: r["timestamp"])  # the records, untouched
        windows = Counter(b.source.key for b in mine if b.last_chunk)
        assert len(windows) == 4 and set(windows.values()) == {1}  # four weeks, each completed once
        for key in windows:
            records = sorted((b.source.record_start, b.source.record_end) for b in mine if b.source.key == key)
            assert records[0][0] == 0 and all(a[1] == b[0] for a, b in pairwise(records))
            assert records[-1][1] == 672  # a week of quarter hours, each once
    latest = await latest_checkpoints(servers.kafka, pollers.topics.checkpoints)
    for muid in MUIDS:
        assert latest[f"http:upstream/{muid}/energy"].etag == "2023-03-01T00:00:00Z"

    await asyncio.to_thread(pollers.once, 180, 0, **env)
    assert len(await raw_batches(servers.kafka, pollers.topics.raw)) == len(batches)  # nothing new
