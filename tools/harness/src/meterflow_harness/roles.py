"""The services' database logins (infra/timescale/roles.sql): the writer and the API of a test or benchmark
pipeline connect as ``meterflow_writer`` and ``meterflow_api``, members of the least-privilege group roles
that migration 0009 grants, so every run proves the services work with only those privileges.

The logins are cluster-wide: ``infra/timescale/pg.sh start`` creates them on the native server, and
:func:`ensure_service_logins` creates them where the admin DSN may (a superuser, as in the Docker images)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg


@dataclass(frozen=True)
class ServiceLogin:
    user: str
    group: str
    password_env: str
    default_password: str

    @property
    def password(self) -> str:
        return os.environ.get(self.password_env, self.default_password)


# As infra/local.env and infra/timescale/pg.sh (local-only passwords).
WRITER = ServiceLogin("meterflow_writer", "meterflow_ingest", "MF_WRITER_DB_PASSWORD", "meterflow-writer")
API = ServiceLogin("meterflow_api", "meterflow_reader", "MF_API_DB_PASSWORD", "meterflow-api")
SERVICE_LOGINS = {"writer": WRITER, "api": API}


def as_login(dsn: str, login: ServiceLogin) -> str:
    """``dsn`` (same host, port, database and query) with the user and password of ``login``."""
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{quote(login.user, safe='')}:{quote(login.password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


async def ensure_service_logins(admin_dsn: str) -> None:
    """Make sure the group roles and the services' logins exist, creating those missing when the admin DSN
    may create roles; otherwise fail with what to run."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        names = [name for login in SERVICE_LOGINS.values() for name in (login.user, login.group)]
        existing = {
            r["rolname"] for r in await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname = ANY($1)", names)
        }
        if existing == set(names):
            return
        if not await conn.fetchval("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"):
            raise RuntimeError(
                f"roles {sorted(set(names) - existing)} are missing and the admin DSN's role may not create them: "
                "run `infra/timescale/pg.sh roles` (or infra/timescale/roles.sql as a superuser)"
            )
        for login in SERVICE_LOGINS.values():
            await _create_login(conn, login, existing)
    finally:
        await conn.close()


async def _create_login(conn: asyncpg.Connection, login: ServiceLogin, existing: set[str]) -> None:
    for name, options in ((login.group, "NOLOGIN"), (login.user, "LOGIN")):
        if name not in existing:
            # A concurrent test session may create it first.
            with contextlib.suppress(asyncpg.DuplicateObjectError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE ROLE "{name}" {options}')
    password = await conn.fetchval("SELECT quote_literal($1)", login.password)
    await conn.execute(f'ALTER ROLE "{login.user}" LOGIN PASSWORD {password}')
    await conn.execute(f'GRANT "{login.group}" TO "{login.user}"')
