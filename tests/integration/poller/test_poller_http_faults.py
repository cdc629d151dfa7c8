"""The HTTP source against a source API that misbehaves (an aiohttp server of the test's own): each meter
of the source suffers one fault (slow, 500s, 429 with Retry-After, a truncated body, a wrong content type,
duplicates across pages), and still every record is published exactly once, the bad bodies are
dead-lettered with their reason, a window fetched again asks conditionally (304), and the poller never
stops."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from conftest import Pollers
from meterflow_harness.metrics import metric_value
from meterflow_harness.ports import free_port
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import eventually
from poller_runs import dead_letters, latest_checkpoints, raw_batches

pytestmark = pytest.mark.integration

START = datetime(2023, 2, 1, tzinfo=UTC)
METERS = ["slow", "flaky", "busy", "truncated", "wrongtype", "dupes", "plain"]
API_KEY = "mf_test_key_from_a_file"
RETRY_AFTER_S = 2
LAST_MODIFIED = "Fri, 03 Feb 2023 06:00:00 GMT"


def records_of(muid: str) -> list[dict[str, Any]]:
    """Two days of two-hourly records, newest first (as the source API orders them)."""
    stamps = [START + timedelta(hours=2 * i) for i in range(24)]
    return [
        {
            "measurement": "energy",
            "timestamp": ts.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "tags": {"muid": muid, "quality": "measured"},
            "0100011D00FF": i,
        }
        for i, ts in reversed(list(enumerate(stamps)))
    ]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@dataclass
class Seen:
    at: float
    muid: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int = 0


@dataclass
class MisbehavingApi:
    """``GET /meterdata/measurement`` as Meterflow serves it (newest first, ``limit``, exclusive ``stop``,
    an ETag per page and 304 on If-None-Match; for "wrongtype" a Last-Modified and 304 on
    If-Modified-Since instead), each meter with its own fault on its first requests."""

    seen: list[Seen] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    repeated: int = 0  # records served again on a later page

    async def handle(self, request: web.Request) -> web.StreamResponse:
        muid = request.query["muid"]
        self.counts[muid] += 1
        seen = Seen(time.monotonic(), muid, dict(request.query), dict(request.headers))
        self.seen.append(seen)
        response = await self.answer(request, muid, self.counts[muid])
        seen.status = response.status
        return response

    async def answer(self, request: web.Request, muid: str, n: int) -> web.StreamResponse:
        if muid == "slow" and n == 1:
            await asyncio.sleep(3)  # the poller's timeout is 1 s
        if muid == "flaky" and n <= 2:
            return web.Response(status=500, text="internal error")
        if muid == "busy" and n == 1:
            return web.Response(status=429, text="slow down", headers={"Retry-After": str(RETRY_AFTER_S)})
        if muid == "wrongtype" and n == 2:
            return web.Response(text="<html>maintenance</html>", content_type="text/html")
        body = json.dumps({"data": self.page(muid, request.query)}).encode()
        if muid == "wrongtype":
            if request.headers.get("If-Modified-Since") == LAST_MODIFIED:
                return web.Response(status=304, headers={"Last-Modified": LAST_MODIFIED})
            return web.Response(body=body, content_type="application/json", headers={"Last-Modified": LAST_MODIFIED})
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        if muid == "truncated" and n == 2:
            body = body[: len(body) // 2]
        return web.Response(body=body, content_type="application/json", headers={"ETag": etag})

    def page(self, muid: str, query: Any) -> list[dict[str, Any]]:
        start, stop, limit = when(query["start"]), when(query["stop"]), int(query["limit"])
        records = [r for r in records_of(muid) if start <= when(r["timestamp"]) < stop][:limit]
        if muid == "dupes" and stop.time() != datetime.min.time():
            # A later page repeats the oldest records of the page before it.
            again = [r for r in records_of(muid) if start <= when(r["timestamp"]) >= stop][-2:]
            self.repeated += len(again)
            records = again + records
        return records


@pytest.fixture
async def misbehaving_api() -> AsyncIterator[tuple[MisbehavingApi, str]]:
    api = MisbehavingApi()
    app = web.Application()
    app.router.add_get("/meterdata/measurement", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield api, f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_every_record_once_whatever_the_server_does(
    servers: Servers, pollers: Pollers, misbehaving_api: tuple[MisbehavingApi, str], tmp_path: Path
) -> None:
    api, url = misbehaving_api
    (tmp_path / "api-key").write_text(API_KEY + "\n")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""
sources:
  - name: misbehaving
    kind: http
    base_url: {url}
    muids: {json.dumps(METERS)}
    start: 2023-02-01T00:00:00Z
    until: 2023-02-03T00:00:00Z
    window_s: 86400
    limit: 5
    timeout_s: 1
    max_attempts: 4
    rate_per_s: 20
    interval_s: 1
    headers_file: {{X-API-Key: {tmp_path / "api-key"}}}
"""
    )
    poller = pollers.start(POLLER_SOURCES_FILE=str(sources))
    kafka, topics = servers.kafka, pollers.topics

    async def every_window_checkpointed() -> bool:
        latest = await latest_checkpoints(kafka, topics.checkpoints)
        return all(
            (c := latest.get(f"http:misbehaving/{m}/energy")) is not None and c.etag == "2023-02-03T00:00:00Z"
            for m in METERS
        )

    await eventually(every_window_checkpointed, 120, "every meter's windows checkpointed", interval=0.5, alive=[poller])

    batches = await raw_batches(kafka, topics.raw)
    for muid in METERS:
        published = [r for b in batches if b.source.key.startswith(f"{muid}/") for r in b.records]
        assert sorted(published, key=lambda r: r["timestamp"]) == sorted(
            records_of(muid), key=lambda r: r["timestamp"]
        ), muid  # each record exactly once: nothing lost to the faults, no repeat published

    dead = {d.source.key.split("/")[0]: d for d in await dead_letters(kafka, topics.dlq)}
    assert set(dead) == {"truncated", "wrongtype"}
    assert dead["truncated"].reason == "invalid_json" and "(truncated)" in dead["truncated"].message
    assert dead["wrongtype"].reason == "invalid_shape" and "(content_type)" in dead["wrongtype"].message
    assert "maintenance" in dead["wrongtype"].record

    # The windows with a bad page were fetched again conditionally: their first page had not changed.
    again = [s for s in api.seen if s.muid == "truncated" and "If-None-Match" in s.headers]
    assert again and again[0].status == 304
    again = [s for s in api.seen if s.muid == "wrongtype" and "If-Modified-Since" in s.headers]
    assert again and again[0].status == 304

    # 429 with Retry-After: the next request came no sooner than asked.
    busy = [s for s in api.seen if s.muid == "busy"]
    assert busy[0].status == 429 and busy[1].at - busy[0].at >= RETRY_AFTER_S

    # The rate limit holds for the whole source (one spare for a request that left early on the wire).
    times = sorted(s.at for s in api.seen)
    assert max(sum(1 for t in times if a <= t < a + 1) for a in times) <= 20 + 1
    assert all(s.headers.get("X-API-Key") == API_KEY for s in api.seen)

    text = poller.metrics()
    requests = 'source="misbehaving"'
    assert metric_value(text, "meterflow_poller_http_requests_total", f'{requests},status="timeout"') >= 1
    assert metric_value(text, "meterflow_poller_http_requests_total", f'{requests},status="500"') == 2
    assert metric_value(text, "meterflow_poller_http_requests_total", f'{requests},status="304"') >= 1
    assert metric_value(text, "meterflow_poller_http_bad_bodies_total", f'code="truncated",{requests}') == 1
    assert api.repeated >= 2
    assert metric_value(text, "meterflow_poller_http_records_total", f'outcome="duplicate",{requests}') >= api.repeated
    poller.assert_running()
