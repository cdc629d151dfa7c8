"""Tenants, meter ownership and API keys (tables of migration 0008): the key format and the operations on them.

The key format is a contract between whoever creates keys (the ``meterflow keys`` CLI, the tests) and the
query API, which verifies them: ``mf_<prefix>_<secret>``, ``prefix`` 12 hex digits (shown in listings, used
to revoke), ``secret`` 256 random bits (``secrets.token_urlsafe``). Only the SHA-256 of the whole key is
stored: a key is high-entropy, so a fast hash suffices and the lookup stays one indexed read.

Every change here (tenant creation, assignment, key creation and revocation) writes an ``audit_log`` row in
the same transaction.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg

KEY_MARK: Final = "mf"
PREFIX_HEX_DIGITS: Final = 12
SECRET_BYTES: Final = 32
SCOPES: Final = ("read", "admin")


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just created: ``key`` is shown once and never stored."""

    key: str
    prefix: str
    tenant: str
    name: str
    scopes: tuple[str, ...]
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A stored key as listed (never its secret)."""

    prefix: str
    name: str
    tenant: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


def new_key() -> tuple[str, str]:
    """A fresh key and its prefix."""
    prefix = secrets.token_hex(PREFIX_HEX_DIGITS // 2)
    return f"{KEY_MARK}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}", prefix


def key_hash(key: str) -> bytes:
    """What api_keys.key_hash holds for ``key``."""
    return hashlib.sha256(key.encode()).digest()


def key_prefix(key: str) -> str | None:
    """The prefix of a string shaped like a key, else None (a JWT, garbage)."""
    mark, _, rest = key.partition("_")
    prefix, sep, secret = rest.partition("_")
    if mark != KEY_MARK or not sep or not secret or len(prefix) != PREFIX_HEX_DIGITS:
        return None
    return prefix if all(c in "0123456789abcdef" for c in prefix) else None


async def audit(conn: asyncpg.Connection, actor: str, action: str, subject: str, detail: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        subject,
        json.dumps(detail),
    )


async def create_tenant(conn: asyncpg.Connection, name: str, *, actor: str) -> bool:
    """Create tenant ``name``; False if it existed. Raises asyncpg.CheckViolationError for a name that is not
    a slug (lower-case letters, digits, ``-``, ``_``; at most 63)."""
    async with conn.transaction():
        created = await conn.fetchval(
            "INSERT INTO tenants (name) VALUES ($1) ON CONFLICT DO NOTHING RETURNING true", name
        )
        if created:
            await audit(conn, actor, "tenant.create", name, {})
    return bool(created)


async def assign_meters(
    conn: asyncpg.Connection, tenant: str, muids: Sequence[uuid.UUID], *, actor: str, assigned_by: str = "cli"
) -> list[uuid.UUID]:
    """Make ``tenant`` the owner of ``muids`` (moving them from another tenant); returns those that changed."""
    async with conn.transaction():
        rows = await conn.fetch(
            """
            INSERT INTO meter_tenants (muid, tenant, assigned_by)
            SELECT m, $2, $3 FROM unnest($1::uuid[]) AS m
            ON CONFLICT (muid) DO UPDATE SET tenant = EXCLUDED.tenant, assigned_by = EXCLUDED.assigned_by,
                                             assigned_at = now()
            WHERE meter_tenants.tenant IS DISTINCT FROM EXCLUDED.tenant
            RETURNING muid
            """,
            list(muids),
            tenant,
            assigned_by,
        )
        changed = [row[0] for row in rows]
        if changed:
            await audit(conn, actor, "tenant.assign", tenant, {"muids": [str(m) for m in changed]})
    return changed


async def create_key(
    conn: asyncpg.Connection,
    tenant: str,
    *,
    actor: str,
    name: str | None = None,
    scopes: Iterable[str] = ("read",),
    expires_in: timedelta | None = None,
) -> NewKey:
    """A new key of ``tenant`` (which must exist: asyncpg.ForeignKeyViolationError otherwise)."""
    chosen = tuple(s for s in SCOPES if s in set(scopes))
    label = name if name is not None else tenant
    async with conn.transaction():
        while True:
            key, prefix = new_key()
            row = await conn.fetchrow(
                """
                INSERT INTO api_keys (prefix, key_hash, name, tenant, scopes, expires_at)
                VALUES ($1, $2, $3, $4, $5, now() + $6::interval)
                ON CONFLICT (prefix) DO NOTHING
                RETURNING expires_at
                """,
                prefix,
                key_hash(key),
                label,
                tenant,
                list(chosen),
                expires_in,
            )
            if row is not None:  # else a prefix collision (2^-48): draw again
                break
        await audit(conn, actor, "key.create", prefix, {"tenant": tenant, "name": label, "scopes": list(chosen)})
    return NewKey(key, prefix, tenant, label, chosen, row[0])


async def list_keys(conn: asyncpg.Connection, tenant: str | None = None) -> list[KeyInfo]:
    rows = await conn.fetch(
        """
        SELECT prefix, name, tenant, scopes, created_at, expires_at, last_used_at, revoked_at
        FROM api_keys WHERE $1::text IS NULL OR tenant = $1 ORDER BY tenant, created_at, prefix
        """,
        tenant,
    )
    return [KeyInfo(r[0], r[1], r[2], tuple(r[3]), *r[4:]) for r in rows]


async def revoke_key(conn: asyncpg.Connection, prefix: str, *, actor: str) -> bool:
    """Revoke the key with ``prefix`` at once; False if there is none or it was revoked already."""
    async with conn.transaction():
        revoked = await conn.fetchval(
            "UPDATE api_keys SET revoked_at = now() WHERE prefix = $1 AND revoked_at IS NULL RETURNING true", prefix
        )
        if revoked:
            await audit(conn, actor, "key.revoke", prefix, {})
    return bool(revoked)
