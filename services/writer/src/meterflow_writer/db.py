"""PostgreSQL adapter: COPY into a staging table and upsert into readings, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from meterflow_kit.backoff import MeterflowError

from meterflow_writer.domain import Row

_COLUMNS = ("muid", "obis", "ts", "value", "quality")

_CREATE_STAGING = """
CREATE TEMP TABLE readings_staging (
    muid uuid, obis text, ts timestamptz, value double precision, quality text
) ON COMMIT DROP
"""

# Only rows whose value or quality changed are rewritten, so a replay costs reads, not dead tuples.
_UPSERT = """
WITH upserted AS (
    INSERT INTO readings AS r (muid, obis, ts, value, quality)
    SELECT muid, obis, ts, value, quality FROM readings_staging
    ON CONFLICT (muid, obis, ts) DO UPDATE
        SET value = EXCLUDED.value, quality = EXCLUDED.quality, ingested_at = now()
        WHERE r.value IS DISTINCT FROM EXCLUDED.value OR r.quality IS DISTINCT FROM EXCLUDED.quality
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE NOT inserted) AS changed
FROM upserted
"""


class DatabaseError(MeterflowError):
    """A write failed; ``retriable`` is False when the data itself was rejected."""


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    inserted: int
    changed: int


class Database:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None

    async def connect(self) -> None:
        # Two connections: one writes, one answers readiness checks while a long COPY runs.
        self._pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2, command_timeout=300)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()

    async def ping(self) -> bool:
        if self._pool is None:
            return False
        try:
            async with self._pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1", timeout=2)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False
        return True

    async def write(self, rows: list[Row]) -> WriteOutcome:
        """Load rows durably; raise DatabaseError(retriable=...) on failure."""
        if self._pool is None:
            await self._connect_or_raise()
        assert self._pool is not None
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_CREATE_STAGING)
                await conn.copy_records_to_table("readings_staging", records=rows, columns=_COLUMNS)
                result = await conn.fetchrow(_UPSERT)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as error:
            raise DatabaseError(f"database rejected the rows: {error}", retriable=False) from error
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            raise DatabaseError(f"database write failed: {error!r}", retriable=True) from error
        assert result is not None
        return WriteOutcome(inserted=result["inserted"], changed=result["changed"])

    async def _connect_or_raise(self) -> None:
        try:
            await self.connect()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as error:
            raise DatabaseError(f"cannot connect to PostgreSQL: {error!r}", retriable=True) from error
