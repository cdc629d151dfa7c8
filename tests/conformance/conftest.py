"""Fixtures for the storage conformance suite: the local PostgreSQL and the TimescaleDB (PGlite) server.

Environment:
- MF_PG_ADMIN_DSN   a role that may CREATE DATABASE; when unset, the session's `servers` fixture
                    (tests/conftest.py) starts the local cluster and stops it at the end.
- MF_PGLITE_DSN     a FRESH TimescaleDB/PGlite server (nothing migrated yet). When unset, the session starts
                    its own with infra/timescale/pglite.sh (port MF_PGLITE_PORT, default a free one; pid file
                    and log in .local/pglite-test-<pid>/) and stops it at the end; skipped when node/npm
                    are missing (in CI, CI=true, that skip fails the run).
Each PostgreSQL test gets its own database (mf_test_<random>), dropped afterwards. PGlite has one database
and serves one connection at a time: tests there open one connection, use it and close it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from meterflow_harness.servers import Servers
from pglite import pglite_server


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_admin_dsn(servers: Servers) -> str:
    """DSN of a role that may create databases on the real PostgreSQL of this test session."""
    return servers.pg_admin_dsn


@asynccontextmanager
async def fresh_database(admin_dsn: str) -> AsyncIterator[str]:
    """A new, empty database for one test; dropped (connections and all) afterwards."""
    name = f"mf_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield with_database(admin_dsn, name)
    finally:
        admin = await asyncpg.connect(admin_dsn)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture(scope="session")
def pg_database(pg_admin_dsn: str) -> Callable[[], AbstractAsyncContextManager[str]]:
    """Factory of fresh databases, for fixtures wider than one test: ``async with pg_database() as dsn``."""
    return lambda: fresh_database(pg_admin_dsn)


@pytest.fixture
async def pg_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """DSN of a fresh, empty PostgreSQL database owned by this test."""
    async with fresh_database(pg_admin_dsn) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def pglite_dsn() -> Iterator[str]:
    """DSN of a fresh TimescaleDB (PGlite) server: MF_PGLITE_DSN, or one started for this session only."""
    configured = os.environ.get("MF_PGLITE_DSN")
    if configured:
        yield configured
        return
    with pglite_server("conformance") as dsn:
        yield dsn
