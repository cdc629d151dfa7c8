"""API keys and meter ownership for whatever calls the query API in tests and benchmarks.

Keys are made straight in the database through meterflow_schema.tenancy (what ``meterflow keys create``
does), so a test or a benchmark never needs the CLI's output: ``await admin_key(dsn)`` and send
``auth_headers(key)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import asyncpg
from meterflow_schema.tenancy import assign_meters as assign_in_db
from meterflow_schema.tenancy import create_key, create_tenant

ADMIN_TENANT = "operators"
ACTOR = "harness"


async def _connect(dsn: str, search_path: str | None = None) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, timeout=10, statement_cache_size=0)
    if search_path is not None:
        await conn.execute("SELECT set_config('search_path', $1, false)", search_path)
    return conn


async def make_key(
    dsn: str, tenant: str, *, admin: bool = False, scopes: tuple[str, ...] | None = None, search_path: str | None = None
) -> str:
    """A new key of ``tenant`` (created if missing): read, or read and admin; ``scopes`` overrides both."""
    conn = await _connect(dsn, search_path)
    try:
        await create_tenant(conn, tenant, actor=ACTOR)
        chosen = scopes if scopes is not None else ("read", "admin") if admin else ("read",)
        return (await create_key(conn, tenant, actor=ACTOR, scopes=chosen)).key
    finally:
        await conn.close()


async def admin_key(dsn: str, *, search_path: str | None = None) -> str:
    """A key that reads every tenant's meters."""
    return await make_key(dsn, ADMIN_TENANT, admin=True, search_path=search_path)


async def assign_meters(dsn: str, tenant: str, muids: Iterable[uuid.UUID | str]) -> None:
    """Make ``tenant`` (created if missing) the owner of ``muids``."""
    conn = await _connect(dsn)
    try:
        await create_tenant(conn, tenant, actor=ACTOR)
        await assign_in_db(conn, tenant, [uuid.UUID(str(m)) for m in muids], actor=ACTOR)
    finally:
        await conn.close()


def auth_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
