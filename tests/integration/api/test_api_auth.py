"""Authentication and tenant scoping on the real API and PostgreSQL: 401/403/404 on every route (walked from
``app.routes``, so a new route is covered without touching this file), cross-tenant reads impossible on
every route and format (JSON, CSV, cursors), revocation and expiry of API keys honoured, the CLI's keys."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi.routing import APIRoute
from integration.api.api_tenants import OTHER_TENANT, TENANT
from meterflow_harness.api_keys import ACTOR, assign_meters, make_key
from meterflow_schema.tenancy import create_key, key_hash

pytestmark = pytest.mark.integration

IMPORT = "1-0:1.29.0*255"
START = datetime(2023, 2, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]

# TENANT owns A1..A3, OTHER_TENANT owns B1 and B2, nobody owns FREE; UNKNOWN has no readings at all.
A = [uuid.UUID(f"0000000a-0000-4000-8000-00000000000{i}") for i in (1, 2, 3)]
B = [uuid.UUID(f"0000000b-0000-4000-8000-00000000000{i}") for i in (1, 2)]
FREE = uuid.UUID("0000000f-0000-4000-8000-000000000001")
UNKNOWN = uuid.UUID("00000000-dead-4000-8000-000000000000")
OPEN_PATHS = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
PUBLIC_PREFIXES = ("/static/", "/dashboard")  # assets served without data (other parts of the API)
WELL_FORMED_UNKNOWN_KEY = "mf_0123456789ab_" + "x" * 43


def rows() -> list[tuple[uuid.UUID, str, datetime, float, str]]:
    return [(muid, IMPORT, START + i * STEP, 0.1 * i, "measured") for muid in (*A, *B, FREE) for i in range(200)]


@pytest.fixture(scope="module")
async def loaded(database: str, insert_rows: Inserter) -> str:
    await insert_rows(database, rows())
    await assign_meters(database, TENANT, A)
    await assign_meters(database, OTHER_TENANT, B)
    return database


@pytest.fixture(scope="module")
async def admin(loaded: str, client_factory: ClientFactory) -> httpx.AsyncClient:
    return await client_factory(loaded)


@pytest.fixture(scope="module")
async def tenant_a(loaded: str, client_factory: ClientFactory) -> httpx.AsyncClient:
    return await client_factory(loaded, as_tenant=TENANT)


@pytest.fixture(scope="module")
async def tenant_b(loaded: str, client_factory: ClientFactory) -> httpx.AsyncClient:
    return await client_factory(loaded, as_tenant=OTHER_TENANT)


def protected_routes(client: httpx.AsyncClient) -> list[APIRoute]:
    app: Any = client._transport.app  # type: ignore[attr-defined]
    routes = [
        route
        for route in app.routes
        if isinstance(route, APIRoute) and route.path not in OPEN_PATHS and not route.path.startswith(PUBLIC_PREFIXES)
    ]
    assert len(routes) >= 7, [r.path for r in routes]
    return routes


def request_of(route: APIRoute, muid: uuid.UUID) -> tuple[str, str, dict[str, str]]:
    """Method, URL and query of a request to ``route``: {muid} (path or query) is ``muid``, any other path
    parameter a placeholder (authentication comes before any parameter is looked at)."""
    url = re.sub(r"\{muid\}", str(muid), route.path)
    url = re.sub(r"\{[^}]+\}", "placeholder", url)
    query = {"muid": str(muid)} if any(p.alias == "muid" for p in route.dependant.query_params) else {}
    return sorted(route.methods)[0], url, query


def per_meter(route: APIRoute) -> bool:
    """A route whose only required parameter is the meter: its answers can be compared across tenants."""
    required = [
        p.alias for p in (*route.dependant.path_params, *route.dependant.query_params) if p.field_info.is_required()
    ]
    return required == ["muid"] and "GET" in route.methods


async def test_every_route_needs_a_credential(anonymous_client: httpx.AsyncClient, admin: httpx.AsyncClient) -> None:
    for route in protected_routes(admin):
        method, url, query = request_of(route, A[0])
        response = await anonymous_client.request(method, url, params=query)
        assert response.status_code == 401, (route.path, response.text)
        assert response.headers["www-authenticate"] == 'Bearer realm="meterflow"', route.path
        assert "Authorization: Bearer" in response.json()["detail"]
        for headers in (
            {"Authorization": f"Bearer {WELL_FORMED_UNKNOWN_KEY}"},
            {"X-API-Key": WELL_FORMED_UNKNOWN_KEY},
            {"Authorization": "Bearer not-a-key-nor-a-jwt"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"X-API-Key": "not-a-key"},
        ):
            refused = await anonymous_client.request(method, url, params=query, headers=headers)
            assert refused.status_code == 401, (route.path, headers, refused.text)
            assert refused.headers["www-authenticate"] == 'Bearer realm="meterflow", error="invalid_token"'
            assert WELL_FORMED_UNKNOWN_KEY not in refused.text  # never echo a secret


async def test_every_route_needs_the_read_scope(loaded: str, client_factory: ClientFactory) -> None:
    scopeless = await make_key(loaded, TENANT, scopes=())
    client = await client_factory(loaded, anonymous=True)
    for route in protected_routes(client):
        method, url, query = request_of(route, A[0])
        response = await client.request(method, url, params=query, headers={"X-API-Key": scopeless})
        assert response.status_code == 403, (route.path, response.text)
        assert response.headers["www-authenticate"] == (
            'Bearer realm="meterflow", error="insufficient_scope", scope="read"'
        )


async def call(client: httpx.AsyncClient, route: APIRoute, muid: uuid.UUID, **params: str) -> httpx.Response:
    method, url, query = request_of(route, muid)
    return await client.request(method, url, params={**query, **params})


async def test_another_tenants_meter_is_unknown_on_every_route(
    tenant_a: httpx.AsyncClient, tenant_b: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    checked = 0
    for route in filter(per_meter, protected_routes(admin)):
        assert (await call(tenant_a, route, A[0])).status_code == 200, route.path
        assert (await call(admin, route, B[0])).status_code == 200, route.path
        assert (await call(tenant_b, route, B[0])).status_code == 200, route.path
        for fmt in ("json", "csv"):
            unknown = await call(tenant_a, route, UNKNOWN, format=fmt)
            assert unknown.status_code == 404, route.path
            for foreign in (*B, FREE):
                response = await call(tenant_a, route, foreign, format=fmt)
                assert response.status_code == 404, (route.path, foreign, response.text)
                assert response.text.replace(str(foreign), "M") == unknown.text.replace(str(UNKNOWN), "M")
        checked += 1
    assert checked >= 6


async def test_meters_lists_only_the_callers_meters_in_json_csv_and_across_cursors(
    tenant_a: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    everything = (await admin.get("/v1/meters")).json()
    assert [m["muid"] for m in everything["meters"]] == sorted(str(m) for m in (*A, *B, FREE))
    listed: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        body = (await tenant_a.get("/v1/meters", params=params)).json()
        listed += [m["muid"] for m in body["meters"]]
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert listed == [str(m) for m in A]
    seen: list[str] = []
    params = {"limit": 2, "format": "csv"}
    while True:
        response = await tenant_a.get("/v1/meters", params=params)
        seen += [row["muid"] for row in csv.DictReader(io.StringIO(response.text))]
        if "X-Next-Cursor" not in response.headers:
            break
        params["cursor"] = response.headers["X-Next-Cursor"]
    assert seen == [str(m) for m in A]
    # A cursor taken from the admin's listing (pointing between other tenants' meters) still lists only A's.
    for cursor_muid in (B[0], FREE, uuid.UUID(int=0)):
        cursor = _meters_cursor(cursor_muid)
        body = (await tenant_a.get("/v1/meters", params={"cursor": cursor})).json()
        assert {m["muid"] for m in body["meters"]} <= {str(m) for m in A}
        assert [m["muid"] for m in body["meters"]] == [str(m) for m in A if m > cursor_muid]


def _meters_cursor(muid: uuid.UUID) -> str:
    from meterflow_api.domain import encode_meters_cursor

    return encode_meters_cursor(muid)


async def test_a_conditional_request_for_a_foreign_meter_is_404_not_304(tenant_a: httpx.AsyncClient) -> None:
    # If-None-Match: * matches any ETag: were the version read outside the tenant, a 304 would tell that the
    # meter exists. Own meters still get their 304.
    star = {"If-None-Match": "*"}
    for path in ("series", "stats", "profile", "insights", "overview"):
        foreign = await tenant_a.get(f"/v1/meters/{B[0]}/{path}", headers=star)
        assert foreign.status_code == 404, (path, foreign.status_code)
    own = await tenant_a.get(f"/v1/meters/{A[0]}/series", headers=star)
    assert own.status_code == 304 and own.headers["etag"]


async def test_readings_cursor_of_a_foreign_meter_reads_nothing(
    tenant_a: httpx.AsyncClient, tenant_b: httpx.AsyncClient
) -> None:
    page = (await tenant_b.get(f"/v1/meters/{B[0]}/readings", params={"limit": 10})).json()
    cursor = page["next_cursor"]
    assert cursor is not None
    for fmt in ("json", "csv"):
        response = await tenant_a.get(f"/v1/meters/{B[0]}/readings", params={"cursor": cursor, "format": fmt})
        assert response.status_code == 404 and "X-Next-Cursor" not in response.headers
    mine = await tenant_a.get(f"/v1/meters/{A[0]}/readings", params={"cursor": cursor, "limit": 10})
    assert mine.status_code == 200 and mine.json()["muid"] == str(A[0])


async def test_reassigned_meter_follows_its_new_owner(loaded: str, client_factory: ClientFactory) -> None:
    moved = uuid.UUID("0000000a-0000-4000-8000-0000000000aa")
    insert = [(moved, IMPORT, START, 1.0, "measured")]
    conn = await asyncpg.connect(loaded)
    try:
        await conn.copy_records_to_table("readings", records=insert, columns=["muid", "obis", "ts", "value", "quality"])
        from meterflow_schema import refresh_channels

        await refresh_channels(conn, [(moved, IMPORT)])
    finally:
        await conn.close()
    await assign_meters(loaded, TENANT, [moved])
    a = await client_factory(loaded, as_tenant=TENANT, channel_cache_s=0)
    b = await client_factory(loaded, as_tenant=OTHER_TENANT, channel_cache_s=0)
    assert (await a.get(f"/v1/meters/{moved}/readings")).status_code == 200
    assert (await b.get(f"/v1/meters/{moved}/readings")).status_code == 404
    await assign_meters(loaded, OTHER_TENANT, [moved])
    assert (await a.get(f"/v1/meters/{moved}/readings")).status_code == 404
    assert (await b.get(f"/v1/meters/{moved}/readings")).status_code == 200


async def test_expired_key_is_refused(loaded: str, client_factory: ClientFactory) -> None:
    conn = await asyncpg.connect(loaded)
    try:
        expired = await create_key(conn, TENANT, actor=ACTOR, expires_in=timedelta(seconds=-1))
        valid = await create_key(conn, TENANT, actor=ACTOR, expires_in=timedelta(days=1))
    finally:
        await conn.close()
    client = await client_factory(loaded, anonymous=True)
    refused = await client.get("/v1/meters", headers={"X-API-Key": expired.key})
    assert refused.status_code == 401 and "expired" in refused.json()["detail"]
    assert refused.headers["www-authenticate"] == 'Bearer realm="meterflow", error="invalid_token"'
    assert (await client.get("/v1/meters", headers={"X-API-Key": valid.key})).status_code == 200


async def meterflow(*args: str) -> tuple[int, str]:
    """Run the ``meterflow`` console script; its exit code and standard output."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "meterflow"), *args, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_revocation_reaches_every_worker_within_the_cache_time(
    loaded: str, client_factory: ClientFactory
) -> None:
    code, out = await meterflow("keys", "create", TENANT, "--label", "to-revoke", "--dsn", loaded)
    assert code == 0
    key = out.strip().splitlines()[-1]
    # Two "workers" (apps with their own caches), as uvicorn --workers runs them.
    workers = [await client_factory(loaded, anonymous=True, auth={"key_cache_s": 1.0}) for _ in range(2)]
    for worker in workers:
        assert (await worker.get("/v1/meters", headers={"Authorization": f"Bearer {key}"})).status_code == 200
    prefix = key.split("_")[1]
    assert (await meterflow("keys", "revoke", prefix, "--dsn", loaded))[0] == 0
    deadline = time.monotonic() + 30
    for worker in workers:
        while (await worker.get("/v1/meters", headers={"X-API-Key": key})).status_code != 401:
            assert time.monotonic() < deadline, "revocation not seen"
            await asyncio.sleep(0.2)
    assert (await meterflow("keys", "revoke", prefix, "--dsn", loaded))[0] == 1  # once only


async def test_keys_cli_create_list_and_audit(loaded: str, client_factory: ClientFactory) -> None:
    assert (await meterflow("tenants", "create", "cli-tenant", "--dsn", loaded))[0] == 0
    assert (await meterflow("tenants", "assign", "cli-tenant", str(FREE), "--dsn", loaded))[0] == 0
    code, out = await meterflow("keys", "create", "cli-tenant", "--admin", "--expires", "30", "--dsn", loaded)
    assert code == 0
    key = out.strip().splitlines()[-1]
    assert re.fullmatch(r"mf_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
    code, listing = await meterflow("keys", "list", "cli-tenant", "--dsn", loaded)
    assert code == 0
    prefix = key.split("_")[1]
    assert prefix in listing and key.split("_", 2)[2] not in listing and "read,admin" in listing
    assert (await meterflow("keys", "create", "no-such-tenant", "--dsn", loaded))[0] == 1
    assert (await meterflow("tenants", "create", "Not A Slug", "--dsn", loaded))[0] == 2
    client = await client_factory(loaded, anonymous=True)
    assert (await client.get("/v1/meters", headers={"X-API-Key": key})).status_code == 200
    conn = await asyncpg.connect(loaded)
    try:
        stored = await conn.fetchrow(
            "SELECT key_hash, scopes, expires_at, name FROM api_keys WHERE prefix = $1", prefix
        )
        actions = {
            (r["action"], r["subject"])
            for r in await conn.fetch("SELECT action, subject FROM audit_log WHERE actor LIKE 'cli:%'")
        }
        owner = await conn.fetchval("SELECT tenant FROM meter_tenants WHERE muid = $1", FREE)
    finally:
        await conn.close()
    assert stored["key_hash"] == key_hash(key) and stored["scopes"] == ["read", "admin"]
    assert stored["name"] == "cli-tenant"
    assert timedelta(days=29) < stored["expires_at"] - datetime.now(UTC) <= timedelta(days=30)
    assert {("tenant.create", "cli-tenant"), ("tenant.assign", "cli-tenant"), ("key.create", prefix)} <= actions
    assert owner == "cli-tenant"


async def test_last_use_is_recorded_without_a_write_per_request(loaded: str, client_factory: ClientFactory) -> None:
    key = await make_key(loaded, TENANT)
    client = await client_factory(loaded, anonymous=True, auth={"key_cache_s": 0})
    for _ in range(5):
        assert (await client.get("/v1/meters", headers={"X-API-Key": key})).status_code == 200
    conn = await asyncpg.connect(loaded)
    try:
        prefix = key.split("_")[1]
        used = await conn.fetchval("SELECT last_used_at FROM api_keys WHERE prefix = $1", prefix)
        tuples = await conn.fetchval("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'api_keys'")
    finally:
        await conn.close()
    assert used is not None
    assert tuples in (None, 0)  # this connection's transaction wrote nothing (the API's writes are elsewhere)


async def test_openapi_declares_the_security_schemes(
    admin: httpx.AsyncClient, anonymous_client: httpx.AsyncClient
) -> None:
    spec = (await anonymous_client.get("/openapi.json")).json()
    assert (await anonymous_client.get("/docs")).status_code == 200
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    for route in protected_routes(admin):
        for method in route.methods:
            operation = spec["paths"][route.path][method.lower()]
            assert operation["security"] == [{"bearer": []}, {"apiKey": []}], route.path
            assert {"401", "403"} <= set(operation["responses"]), route.path
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "muid":
                    assert parameter["schema"]["format"] == "uuid", route.path
    for path in ("/healthz", "/readyz", "/metrics"):
        assert "security" not in spec["paths"][path]["get"]
        assert (await anonymous_client.get(path)).status_code == 200
