"""Fixtures of the query API's integration tests: a fresh PostgreSQL database per test module (migrated with
the writer's migrations), loaders for the real source files and generated readings, and an HTTP client
against ``create_app`` with its lifespan running.

Clients authenticate: ``client_factory(dsn)`` sends an admin key (every tenant) made in that database;
``client_factory(dsn, as_tenant="t")`` a read key of tenant "t" (created if missing);
``client_factory(dsn, anonymous=True)`` no credential. ``tenant_client``, ``other_tenant_client`` and
``anonymous_client`` are those on the module's ``database`` (tenants TENANT and OTHER_TENANT, owning no
meter until a test calls ``meterflow_harness.api_keys.assign_meters(dsn, tenant, muids)``).

PostgreSQL comes from the session's `servers` fixture (MF_PG_ADMIN_DSN, or the local cluster it starts);
MF_SHARED_DATA (the folder with the Exnaton files; default <repo>/../shared/data/exnaton-2023-02).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from integration.api.api_tenants import OTHER_TENANT, TENANT
from meterflow_api.config import Settings
from meterflow_api.edge.config import LimitsSettings
from meterflow_api.main import create_app
from meterflow_harness.api_keys import admin_key, auth_headers, make_key
from meterflow_harness.servers import Servers
from meterflow_obis import parse
from meterflow_schema import migrate, refresh_channels

REPO = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("MF_SHARED_DATA", REPO.parent / "shared" / "data" / "exnaton-2023-02"))

Row = tuple[uuid.UUID, str, datetime, float, str]
REAL_IMPORT, REAL_EXPORT = "95ce3367-cbce-4a4d-bbe3-da082831d7bd", "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"

# Sent when the database cannot be reached to make a key: well formed, known to no database.
UNREACHABLE_KEY = "mf_000000000000_the-database-was-unreachable-when-this-client-was-made"


def _source_file(muid: str) -> Path:
    path = SHARED_DATA / f"{muid}.json"
    if not path.is_file():
        pytest.skip(f"real meter data not found at {path} (set MF_SHARED_DATA to the exnaton-2023-02 folder)")
    return path


def _rows_of_source(path: Path) -> list[Row]:
    """Readings of a source file as the pipeline stores them: one row per record and OBIS key."""
    rows: list[Row] = []
    for record in json.loads(path.read_bytes())["data"]:
        ts = datetime.fromisoformat(record["timestamp"])
        muid = uuid.UUID(record["tags"]["muid"])
        for key, value in record.items():
            if key not in ("measurement", "timestamp", "tags"):
                rows.append((muid, parse(key).normalized, ts, float(value), record["tags"]["quality"]))
    return rows


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
async def database(servers: Servers) -> AsyncIterator[str]:
    """DSN of an empty, migrated database of this test module; dropped afterwards."""
    name = f"mf_api_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(servers.pg_admin_dsn, timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        dsn = _with_database(servers.pg_admin_dsn, name)
        await migrate(dsn)
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _insert_rows(dsn: str, rows: Iterable[Row]) -> None:
    records = list(rows)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "readings", records=records, columns=["muid", "obis", "ts", "value", "quality"]
        )
        # Plain SQL bypasses the writer, which keeps channels current: recompute the channels touched.
        await refresh_channels(conn, {(r[0], r[1]) for r in records})
        await conn.execute("ANALYZE readings")
    finally:
        await conn.close()


async def _key_for_client(dsn: str, as_tenant: str | None, search_path: str | None) -> str:
    try:
        if as_tenant is None:
            return await admin_key(dsn, search_path=search_path)
        return await make_key(dsn, as_tenant, search_path=search_path)
    except (OSError, asyncpg.CannotConnectNowError):
        return UNREACHABLE_KEY


@pytest.fixture(scope="module")
async def client_factory() -> AsyncIterator[Callable[..., Any]]:
    """Builds clients against create_app(Settings(database_url=dsn, **settings)) with the lifespan running,
    sending an admin key by default (see the module docstring for ``as_tenant`` and ``anonymous``)."""
    stack: list[Any] = []

    async def make(
        dsn: str,
        *,
        as_tenant: str | None = None,
        anonymous: bool = False,
        key_dsn: str | None = None,
        **settings: Any,
    ) -> httpx.AsyncClient:
        # key_dsn: where the key is made when the API itself connects as a login that may not write keys.
        owner = key_dsn or dsn
        headers = (
            {} if anonymous else auth_headers(await _key_for_client(owner, as_tenant, settings.get("search_path")))
        )
        # One client sends every request of a module from one address: rate limits (tested in
        # test_api_edge.py) would answer 429 to the later tests, so they are off unless a test sets them.
        settings.setdefault("limits", LimitsSettings(per_credential=None, failed_auth_per_ip=None))
        app = create_app(Settings(database_url=dsn, **settings))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers)
        stack.append((lifespan, client))
        return client

    yield make
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def tenant_client(database: str, client_factory: Callable[..., Any]) -> httpx.AsyncClient:
    """A client with a read key of TENANT on the module's database."""
    client: httpx.AsyncClient = await client_factory(database, as_tenant=TENANT)
    return client


@pytest.fixture
async def other_tenant_client(database: str, client_factory: Callable[..., Any]) -> httpx.AsyncClient:
    """A client with a read key of OTHER_TENANT on the module's database."""
    client: httpx.AsyncClient = await client_factory(database, as_tenant=OTHER_TENANT)
    return client


@pytest.fixture
async def anonymous_client(database: str, client_factory: Callable[..., Any]) -> httpx.AsyncClient:
    """A client without credentials on the module's database."""
    client: httpx.AsyncClient = await client_factory(database, anonymous=True)
    return client


@pytest.fixture(scope="session")
def source_file() -> Callable[[str], Path]:
    """Path of the real source file of a meter; skips the test when the shared data folder is absent."""
    return _source_file


@pytest.fixture(scope="session")
def source_rows() -> Callable[[str], list[Row]]:
    """The rows the pipeline stores for a meter's real source file (skips when absent)."""
    return lambda muid: _rows_of_source(_source_file(muid))


@pytest.fixture(scope="session")
def insert_rows() -> Callable[[str, Iterable[Row]], Any]:
    """``await insert_rows(dsn, rows)``: COPY (muid, obis, ts, value, quality) rows into readings."""
    return _insert_rows


@pytest.fixture(scope="module")
async def real_api(
    database: str, client_factory: Callable[..., Any], source_rows: Callable[[str], list[Row]]
) -> httpx.AsyncClient:
    """An admin client of this module's database loaded with both real February meters."""
    await _insert_rows(database, source_rows(REAL_IMPORT) + source_rows(REAL_EXPORT))
    client: httpx.AsyncClient = await client_factory(database)
    return client
