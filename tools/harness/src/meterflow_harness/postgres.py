"""Scratch databases on the real PostgreSQL: created and dropped through an admin DSN (a role that may
CREATE DATABASE). Migrating one is the caller's step: the migrations are the schema's, not the harness's."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

from meterflow_harness.roles import ensure_service_logins


def with_database(dsn: str, database: str) -> str:
    """``dsn`` pointing at ``database`` (its query string kept)."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


async def as_admin(admin_dsn: str, statement: str) -> None:
    """Run one statement on a connection of its own (CREATE/DROP DATABASE cannot run in a transaction)."""
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(statement)
    finally:
        await admin.close()


async def create_database(admin_dsn: str, name: str) -> str:
    """Create the empty database ``name``; returns its DSN (the admin's role: it owns the database and
    migrates it). The services' logins (roles.py) are made sure of, for the pipeline's writer and API."""
    await ensure_service_logins(admin_dsn)
    await as_admin(admin_dsn, f'CREATE DATABASE "{name}"')
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop ``name`` if it exists, closing whatever connections it still has."""
    await as_admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
