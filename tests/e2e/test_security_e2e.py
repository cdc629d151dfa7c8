"""Security through the whole pipeline on real servers (S3 -> poller -> Kafka -> normalizer -> writer ->
PostgreSQL -> API):

- a poller source bound to a tenant (POLLER_TENANT) assigns its new meters to that tenant, in the writer's
  transaction; a meter another tenant owns stays there (counted), and an unbound source assigns nothing;
- no secret reaches a log line or an error body: distinctive values for the database password (also a wrong
  one), the S3 secret key, an API key and a JWT are pushed through every service, then every log file,
  response body and metrics page is searched for them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from meterflow_cli.demo import Household, households, readings_count
from meterflow_cli.demo_cmd import render
from meterflow_harness.metrics import metric_value
from meterflow_harness.pipeline import Pipeline, Topics
from meterflow_harness.roles import ServiceLogin, as_login
from meterflow_harness.servers import Servers
from readings_io import count_rows

pytestmark = pytest.mark.e2e
START, DAYS = date(2023, 3, 20), 1


def upload(s3: Any, bucket: str, fleet: list[Household], prefix: str = "demo/") -> int:
    for house in fleet:
        s3.put_object(Bucket=bucket, Key=f"{prefix}{house.muid}.json", Body=render(house, START, DAYS, 5))
    return sum(readings_count(h, DAYS) for h in fleet)


async def wait_until_async(check: Callable[[], Any], what: str, pipeline: Pipeline, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipeline.assert_running()
        if await check():
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what} within {timeout} s")


async def wait_for_rows(pipeline: Pipeline, expected: int) -> None:
    async def arrived() -> bool:
        return await count_rows(pipeline.dsn) >= expected

    await wait_until_async(arrived, f"{expected} readings arrived", pipeline)


async def test_a_bound_source_assigns_its_new_meters_and_never_reassigns(pipeline: Pipeline, s3: Any) -> None:
    fleet = households(4, seed=13, pv_share=0.5)
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        await conn.execute("INSERT INTO tenants (name) VALUES ('other-utility')")
        await conn.execute(
            "INSERT INTO meter_tenants (muid, tenant, assigned_by) VALUES ($1, 'other-utility', 'cli')", fleet[0].muid
        )
        expected = upload(s3, pipeline.bucket, fleet)
        pipeline.poll_once(POLLER_TENANT="utility-a")
        await wait_for_rows(pipeline, expected)

        owners = {r["muid"]: (r["tenant"], r["assigned_by"]) for r in await conn.fetch("SELECT * FROM meter_tenants")}
        assert owners[fleet[0].muid] == ("other-utility", "cli")  # never reassigned
        for house in fleet[1:]:
            assert owners[house.muid] == ("utility-a", f"source:s3://{pipeline.bucket}")
        assert await conn.fetchval("SELECT count(*) FROM tenants WHERE name = 'utility-a'") == 1
        metrics = pipeline.services["writer"].metrics()
        assert metric_value(metrics, "meterflow_writer_meters_assigned_total") == len(fleet) - 1
        assert metric_value(metrics, "meterflow_writer_meters_owned_elsewhere_total") >= 1

        # An unbound source (no POLLER_TENANT): its new meter has no owner.
        newcomer = households(1, seed=99)
        expected += upload(s3, pipeline.bucket, newcomer, prefix="unbound/")
        pipeline.poll_once()
        await wait_for_rows(pipeline, expected)
        assert await conn.fetchval("SELECT count(*) FROM meter_tenants WHERE muid = $1", newcomer[0].muid) == 0
        assert await conn.fetchval("SELECT count(*) FROM meter_tenants") == len(fleet)
    finally:
        await conn.close()


def jwt_like(token: str) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    header = part({"alg": "RS256", "typ": "JWT", "kid": token})
    payload = part({"sub": f"user-{token}", "tenant": "utility-a", "exp": 4102444800})
    return f"{header}.{payload}.sig{token}"


async def test_no_secret_reaches_a_log_or_an_error_body(
    servers: Servers, topics: Topics, database: str, bucket: str, log_dir: Path, s3: Any
) -> None:
    token = uuid.uuid4().hex[:16]
    secrets = {
        "database password": f"dbpw-{token}",
        "wrong database password": f"wrongpw-{token}",
        "S3 secret key": f"s3secret-{token}",
        "API key": f"mfk_live_{token}",
        "JWT": jwt_like(token),
    }
    # A login of this test's own, so its password is a value no other text contains.
    role = f"mf_secret_{token}"
    login = ServiceLogin(role, "meterflow_ingest", f"MF_UNSET_{token}", secrets["database password"])
    wrong = ServiceLogin(role, "meterflow_ingest", f"MF_UNSET_{token}", secrets["wrong database password"])
    owner = await asyncpg.connect(database)
    await owner.execute(
        f"CREATE ROLE {role} LOGIN PASSWORD '{secrets['database password']}' IN ROLE meterflow_ingest, meterflow_reader"
    )
    pipeline = Pipeline(servers, topics, database, bucket, log_dir)
    seen: list[tuple[str, str]] = []  # (where, text)
    try:
        pipeline.start(pipeline.normalizer())
        pipeline.start(pipeline.writer(WRITER_DATABASE_URL=as_login(database, login), WRITER_BATCH_MAX_S="0.2"))
        pipeline.start(pipeline.api(API_DATABASE_URL=as_login(database, login), API_ACCESS_LOG="true"))
        for service in pipeline.services.values():
            service.wait_healthy()
        # Services that cannot log in: their errors must name the user, never the password tried.
        broken_api = pipeline.start(pipeline.api(name="api-wrongpw", API_DATABASE_URL=as_login(database, wrong)))
        broken_writer = pipeline.start(
            pipeline.writer(
                name="writer-wrongpw",
                WRITER_DATABASE_URL=as_login(database, wrong),
                WRITER_GROUP_ID=f"wrongpw{topics.suffix}",
            )
        )
        broken_api.wait_healthy()
        broken_writer.wait_healthy()

        expected = upload(s3, bucket, households(3, seed=21))
        pipeline.poll_once(
            AWS_ACCESS_KEY_ID=f"AKIA{token.upper()}",
            AWS_SECRET_ACCESS_KEY=secrets["S3 secret key"],
            POLLER_TENANT="utility-a",
        )
        await wait_for_rows(pipeline, expected)

        seen += await api_answers(pipeline.api_url, secrets)
        readiness = broken_api.get("/readyz")
        assert readiness.status_code == 503
        seen.append(("api-wrongpw /readyz", readiness.text))
        seen += [(f"{name} /metrics", service.metrics()) for name, service in pipeline.services.items()]
    finally:
        unclean = pipeline.stop()
        await owner.execute(f"DROP ROLE IF EXISTS {role}")
        await owner.close()
    assert not unclean, unclean

    logs = read_logs(log_dir)
    assert set(logs) >= {
        "poller.log",
        "normalizer.log",
        "writer.log",
        "api.log",
        "api-wrongpw.log",
        "writer-wrongpw.log",
    }
    seen += list(logs.items())
    assert "/v1/meters" in logs["api.log"], "the API's access log is on: the requests must show (without secrets)"
    assert "password authentication failed" in logs["writer-wrongpw.log"]
    leaks = [f"{what} in {where}" for where, text in seen for what, secret in secrets.items() if secret in text]
    assert not leaks, leaks


def read_logs(log_dir: Path) -> dict[str, str]:
    """Every log file of the run (the services' output, whatever their format), by its path in ``log_dir``."""
    return {str(p.relative_to(log_dir)): p.read_text(errors="replace") for p in sorted(log_dir.rglob("*.log"))}


async def api_answers(api_url: str, secrets: dict[str, str]) -> list[tuple[str, str]]:
    """Requests carrying the credentials in every accepted way, to good and bad URLs; their answers."""
    unknown = uuid.uuid4()
    headers = [
        {"Authorization": f"Bearer {secrets['JWT']}"},
        {"Authorization": f"Bearer {secrets['API key']}"},
        {"X-API-Key": secrets["API key"]},
        {"Authorization": f"Basic {base64.b64encode(secrets['API key'].encode()).decode()}"},
    ]
    paths = [
        "/v1/meters",
        "/v1/meters?cursor=not-a-cursor",
        f"/v1/meters/{unknown}/readings?start=2023-03-20T00:00:00Z&end=2023-03-21T00:00:00Z",
        "/v1/meters/not-a-uuid/series",
        "/v1/nothing-here",
    ]
    answers = []
    async with httpx.AsyncClient(base_url=api_url, timeout=30) as client:
        for header in headers:
            for path in paths:
                response = await client.get(path, headers=header)
                assert response.status_code < 500, (path, response.text)
                answers.append((f"GET {path}", f"{response.headers}\n{response.text}"))
    return answers
