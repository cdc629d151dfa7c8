"""API keys: ``mf_<prefix>_<secret>`` looked up by the SHA-256 of the whole key in ``api_keys``.

A verified key (and a refused one) is remembered for ``key_cache_s`` seconds per worker, so a request
costs a hash and a dictionary look-up, not a query. That TTL is also the bound on how long a revoked key
keeps working in a worker: every worker re-reads the row within it (measured and discussed in docs/api.md;
LISTEN/NOTIFY would be faster to react but needs one more connection per worker held open forever).
Expiry is checked on every request against the cached expiry time. ``last_used_at`` is written at most
every ``last_used_every_s`` per key and worker, on a cache refresh: never a write per request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from meterflow_schema.tenancy import key_hash, key_prefix

from meterflow_api.auth.principal import Principal, principal_of
from meterflow_api.db import Database
from meterflow_api.errors import NotAuthenticated

log = structlog.get_logger("meterflow.api.auth")

LOOKUP = """
SELECT prefix, tenant, scopes, expires_at, revoked_at, last_used_at FROM api_keys WHERE key_hash = $1
"""
TOUCH = "UPDATE api_keys SET last_used_at = now() WHERE prefix = $1"


@dataclass(frozen=True, slots=True)
class _StoredKey:
    principal: Principal
    expires_at: datetime | None
    revoked: bool


@dataclass(slots=True)
class _Entry:
    fresh_until: float
    key: _StoredKey | None  # None: no such key


class KeyVerifier:
    """Verifies API keys; one per worker (app.state), over the API's pool."""

    def __init__(self, database: Database, *, cache_s: float, last_used_every_s: float, max_entries: int = 10_000):
        self.database = database
        self.cache_s = cache_s
        self.last_used_every_s = last_used_every_s
        self.max_entries = max_entries
        self._cache: dict[bytes, _Entry] = {}
        self._touched_at: dict[str, float] = {}

    async def verify(self, key: str) -> Principal:
        digest = key_hash(key)
        entry = self._cache.get(digest)
        if entry is None or entry.fresh_until < time.monotonic():
            entry = await self._refresh(digest)
        stored = entry.key
        if stored is None:
            raise NotAuthenticated(f"unknown API key {key_prefix(key)}", credential_sent=True)
        if stored.revoked:
            raise NotAuthenticated(f"the API key {key_prefix(key)} was revoked", credential_sent=True)
        if stored.expires_at is not None and stored.expires_at <= datetime.now(UTC):
            raise NotAuthenticated(
                f"the API key {key_prefix(key)} expired at {stored.expires_at.isoformat()}", credential_sent=True
            )
        return stored.principal

    async def _refresh(self, digest: bytes) -> _Entry:
        async with self.database.session() as session:
            row = await session.conn.fetchrow(LOOKUP, digest)
            stored = None if row is None else _stored(row)
            if row is not None and stored is not None and not stored.revoked:
                await self._touch(session.conn, row["prefix"], row["last_used_at"])
        entry = _Entry(time.monotonic() + self.cache_s, stored)
        self._remember(digest, entry)
        return entry

    async def _touch(
        self, conn: asyncpg.Connection | PoolConnectionProxy, prefix: str, last_used_at: datetime | None
    ) -> None:
        now = time.monotonic()
        if now - self._touched_at.get(prefix, -self.last_used_every_s) < self.last_used_every_s:
            return
        if last_used_at is not None and (datetime.now(UTC) - last_used_at).total_seconds() < self.last_used_every_s:
            return  # another worker wrote it recently
        self._touched_at[prefix] = now
        try:
            await conn.execute(TOUCH, prefix)
        except asyncpg.PostgresError as error:  # bookkeeping only: never refuse a request for it
            log.warning("could not record the key's last use", prefix=prefix, error=str(error))

    def _remember(self, digest: bytes, entry: _Entry) -> None:
        if self.cache_s <= 0:
            return
        if len(self._cache) >= self.max_entries:
            now = time.monotonic()
            self._cache = {k: v for k, v in self._cache.items() if v.fresh_until >= now}
            while len(self._cache) >= self.max_entries:  # all fresh: drop the oldest
                del self._cache[next(iter(self._cache))]
        self._cache[digest] = entry


def _stored(row: asyncpg.Record) -> _StoredKey:
    scopes = frozenset(row["scopes"])
    return _StoredKey(
        principal_of(f"key:{row['prefix']}", row["tenant"], scopes), row["expires_at"], row["revoked_at"] is not None
    )
