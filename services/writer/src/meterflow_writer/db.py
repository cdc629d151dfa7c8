"""PostgreSQL adapter: COPY into a staging table and upsert into readings, and the channels rows the write
adds to, in one transaction; and, on TimescaleDB, the refresh of the continuous aggregates over the day
buckets that writes touched."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
import structlog
from meterflow_schema import ChannelKey
from meterflow_schema.channels import INSERT_CHANNEL_ROWS

from meterflow_writer import metrics
from meterflow_writer.domain import (
    ChannelInfo,
    ChannelWrite,
    Row,
    WriteOutcome,
    channel_writes,
    day_windows,
    touched_days,
)
from meterflow_writer.errors import DatabaseError, RowsRejected
from meterflow_writer.pgcopy import COLUMNS, chunks, encode_rows
from meterflow_writer.tenancy import Binding, bind_meters

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

log = structlog.get_logger("meterflow.writer.db")

AGGREGATES = ("readings_hourly", "readings_daily")
# Only one writer instance refreshes at a time; the others skip the round (their marks are durable).
REFRESH_LOCK_KEY = 0x6D66_7772_6566  # "mfwref"

# Created once per connection, emptied by every commit: no catalog churn per batch.
_CREATE_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS readings_staging (
    muid uuid, obis text, ts timestamptz, value double precision, quality text,
    source_modified timestamptz, source_record integer
) ON COMMIT DELETE ROWS
"""

# A stored row is rewritten only by a source version not older than its own (docs/writer.md, "Source
# order"): (source_modified, source_record), NULL older than any version. Among those, only rows whose value,
# quality or version changed are rewritten, so a replay costs reads, not dead tuples. The version is
# rewritten even when the value is the same: otherwise a version between the stored and the newest one
# could still overwrite the newest value. Such a version-only rewrite keeps ingested_at, which is how
# RETURNING tells it from a change of value (it sees only the new row): ingested_at = now() (this
# transaction's start) on an updated row means its value or quality changed. (xmax = 0) tells an inserted
# row from an updated one.
_UPSERTED = """
    INSERT INTO readings AS r (muid, obis, ts, value, quality, source_modified, source_record)
    SELECT muid, obis, ts, value, quality, source_modified, source_record FROM readings_staging
    ON CONFLICT (muid, obis, ts) DO UPDATE
        SET value = EXCLUDED.value, quality = EXCLUDED.quality, source_modified = EXCLUDED.source_modified,
            source_record = EXCLUDED.source_record,
            ingested_at = CASE
                WHEN r.value IS DISTINCT FROM EXCLUDED.value OR r.quality IS DISTINCT FROM EXCLUDED.quality
                THEN now() ELSE r.ingested_at END
        WHERE (r.value IS DISTINCT FROM EXCLUDED.value OR r.quality IS DISTINCT FROM EXCLUDED.quality
               OR r.source_modified IS DISTINCT FROM EXCLUDED.source_modified
               OR r.source_record IS DISTINCT FROM EXCLUDED.source_record)
          AND (coalesce(EXCLUDED.source_modified, '-infinity'), coalesce(EXCLUDED.source_record, -1))
              >= (coalesce(r.source_modified, '-infinity'), coalesce(r.source_record, -1))
    RETURNING muid, obis, ts, (xmax = 0) AS inserted, (xmax <> 0 AND ingested_at = now()) AS changed
"""
# Per channel: the channels table counts the inserted rows only.
_COUNT = """
SELECT muid, obis, count(*) FILTER (WHERE inserted) AS inserted, count(*) FILTER (WHERE changed) AS changed
"""
_PER_CHANNEL = "FROM upserted GROUP BY muid, obis"
_UPSERT = f"WITH upserted AS ({_UPSERTED}) {_COUNT} {_PER_CHANNEL}"
# TimescaleDB with continuous aggregates: also mark the day buckets whose readings this transaction
# inserted or changed (docs/writer.md, "Aggregates"). clock_timestamp() gives every re-mark a new
# marked_at, which the refresher compares before it deletes a mark it has covered.
_UPSERT_MARKING = f"""
WITH upserted AS ({_UPSERTED}),
marked AS (
    INSERT INTO readings_dirty_buckets AS d (muid, obis, bucket, marked_at)
    SELECT muid, obis, bucket, clock_timestamp()
    FROM (
        SELECT DISTINCT muid, obis, time_bucket(interval '1 day', ts) AS bucket FROM upserted WHERE inserted OR changed
    ) AS touched
    ON CONFLICT (muid, obis, bucket) DO UPDATE SET marked_at = EXCLUDED.marked_at
)
{_COUNT} {_PER_CHANNEL}
"""

# One statement per write for every channel it inserted rows into (docs/writer.md, "Channels"): the batch's
# metadata, the span widened, the count raised by the rows inserted. Rows sorted by key: one lock order for
# every writer. A known interval is kept (a message of one reading has none; the mode over all readings is
# what meterflow_schema.refresh_channels computes).
_UPSERT_CHANNELS = (
    INSERT_CHANNEL_ROWS
    + """ON CONFLICT (muid, obis) DO UPDATE
SET quantity = excluded.quantity, direction = excluded.direction, unit = excluded.unit,
    measurement = excluded.measurement, interval_s = coalesce(c.interval_s, excluded.interval_s),
    first_ts = least(c.first_ts, excluded.first_ts), last_ts = greatest(c.last_ts, excluded.last_ts),
    readings = c.readings + excluded.readings, updated_at = now()
"""
)

# The optimistic path's marks, computed from the rows (there is no staging table to select them from).
_MARK_DAYS = """
INSERT INTO readings_dirty_buckets AS d (muid, obis, bucket, marked_at)
SELECT muid, obis, bucket, clock_timestamp()
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[]) AS touched(muid, obis, bucket)
ON CONFLICT (muid, obis, bucket) DO UPDATE SET marked_at = EXCLUDED.marked_at
"""

_SELECT_MARKS = """
SELECT muid, obis, bucket, marked_at FROM readings_dirty_buckets ORDER BY bucket, muid, obis LIMIT $1
"""
# A mark re-set by a write that committed after we read it keeps its newer marked_at and survives.
_DELETE_MARKS = """
DELETE FROM readings_dirty_buckets AS d
USING unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[]) AS m(muid, obis, bucket, marked_at)
WHERE d.muid = m.muid AND d.obis = m.obis AND d.bucket = m.bucket AND d.marked_at = m.marked_at
"""

_OLDEST_MARK_AGE = "SELECT coalesce(extract(epoch FROM now() - min(marked_at)), 0)::float8 FROM readings_dirty_buckets"

# InternalClientError: asyncpg's protocol state machine breaks ("cannot switch to state 15") when the
# server goes away mid-exchange, as in a restart; the next attempt on a fresh connection succeeds.
_CONNECTION_ERRORS = (
    OSError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    TimeoutError,
)
# Rejections: the server's data exceptions (class 22) and constraint violations (class 23), and values the
# driver cannot encode although the contract allows them (a timestamp whose UTC form falls before year 1
# raises OverflowError): that is the data's fault as much as a server-side DataError is.
_REJECTIONS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError, ValueError, OverflowError, TypeError)


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    marks: int
    windows: int


def _is_rejection(error: BaseException) -> bool:
    return isinstance(error, _REJECTIONS)


class Database:
    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 3,
        command_timeout: float = 120.0,
        refresh: bool = True,
        optimistic: bool = True,
    ) -> None:
        self._dsn = dsn
        # Whether to try COPY straight into readings first; see write().
        self._optimistic_allowed = optimistic
        self._optimistic = optimistic
        # One connection writes, one answers readiness checks while a long COPY runs, one refreshes.
        self._pool_size = pool_size
        self._command_timeout = command_timeout
        self._want_refresh = refresh
        self._pool: asyncpg.Pool | None = None
        self.aggregates: tuple[str, ...] = ()
        """Continuous aggregates over readings that this writer keeps fresh; empty on plain PostgreSQL."""

    async def connect(self) -> None:
        """Open the pool and detect, once, whether writes must mark buckets for an aggregate refresh."""
        try:
            self._pool = await self._create_pool()
            async with self._pool.acquire() as conn:
                self.aggregates = await self._detect_aggregates(conn) if self._want_refresh else ()
        except _CONNECTION_ERRORS as error:
            await self.close()
            raise DatabaseError(f"cannot connect to PostgreSQL: {error!r}") from error
        log.info("database connected", aggregates_refreshed=list(self.aggregates))

    async def _create_pool(self) -> asyncpg.Pool:
        return await asyncpg.create_pool(
            self._dsn,
            min_size=1,
            max_size=self._pool_size,
            command_timeout=self._command_timeout,
            timeout=10,
            init=self._init_connection,
        )

    @staticmethod
    async def _init_connection(conn: asyncpg.Connection) -> None:
        # temp_buffers can only change before the session's first temp table: room for a 50k-row batch.
        await conn.execute("SET temp_buffers = '64MB'")
        await conn.execute(_CREATE_STAGING)

    @staticmethod
    async def _detect_aggregates(conn: Conn) -> tuple[str, ...]:
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"):
            return ()
        # TimescaleDB lets only the owner refresh; a least-privilege login (meterflow_ingest) owns none, and
        # then the aggregates' refresh policies keep them (docs/security.md).
        rows = await conn.fetch(
            "SELECT view_name, pg_has_role(current_user, view_owner, 'USAGE') AS owned"
            " FROM timescaledb_information.continuous_aggregates"
            " WHERE view_schema = current_schema() AND view_name = ANY($1::text[])",
            list(AGGREGATES),
        )
        owned = {row["view_name"]: row["owned"] for row in rows}
        if not all(owned.values()):
            log.warning(
                "not refreshing the aggregates this role does not own",
                not_owned=sorted(n for n, mine in owned.items() if not mine),
            )
        found = tuple(name for name in AGGREGATES if owned.get(name))
        if found and not await conn.fetchval("SELECT to_regclass('readings_dirty_buckets') IS NOT NULL"):
            log.warning("continuous aggregates without readings_dirty_buckets: run the migrations; not refreshing")
            return ()
        return found

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def ping(self) -> bool:
        if self._pool is None:
            return False
        try:
            async with self._pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1", timeout=2)
        except _CONNECTION_ERRORS:
            return False
        return True

    def is_rejection(self, error: BaseException) -> bool:
        return isinstance(error, RowsRejected)

    async def write(
        self,
        rows: Sequence[Row],
        payload: bytes | None = None,
        channels: Mapping[ChannelKey, ChannelInfo] | None = None,
        bindings: Mapping[UUID, Binding] | None = None,
    ) -> WriteOutcome:
        """Load rows (unique keys) durably in one transaction; raise RowsRejected or DatabaseError.
        ``payload`` is the rows' binary COPY stream when the caller encoded it already (pgcopy); ``channels``
        what the messages say about each channel (domain.channel_infos; a channel missing there is described
        from its OBIS code). The same transaction upserts the channels rows the write inserted rows into.

        The idempotent path is COPY into the staging table, then an upsert that inserts new keys and rewrites
        only rows whose value or quality changed. When none of the keys exists yet (a fresh stream: nearly
        always), that costs a second pass over every row, so the optimistic path first COPYs the rows straight
        into readings: the primary key refuses the whole COPY at the first key that exists, and the batch then
        takes the upsert path. After such a conflict (a replay, a correction) the next batches upsert
        directly, until one inserts every row again. ``bindings`` (tenancy.bindings_of) assign the rows'
        unowned meters to their source's tenant in the same transaction.
        """
        if self._pool is None:
            await self.connect()
        if payload is None:
            try:
                payload = encode_rows(rows)
            except ValueError as error:
                raise RowsRejected(f"rows cannot be stored: {error}") from error
        infos = channels if channels is not None else {}
        owners = bindings if bindings is not None else {}
        if self._optimistic:
            try:
                return await self._run(self._write_copy, rows, payload, infos, owners)
            except asyncpg.UniqueViolationError:
                self._optimistic = False
        outcome = await self._run(self._write_upsert, rows, payload, infos, owners)
        self._optimistic = self._optimistic_allowed and outcome.inserted == len(rows)
        return outcome

    async def _run(
        self,
        attempt: Callable[[Conn, Sequence[Row], bytes, Mapping[ChannelKey, ChannelInfo]], Awaitable[WriteOutcome]],
        rows: Sequence[Row],
        payload: bytes,
        channels: Mapping[ChannelKey, ChannelInfo],
        bindings: Mapping[UUID, Binding],
    ) -> WriteOutcome:
        assert self._pool is not None
        started = time.perf_counter()
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                outcome = await attempt(conn, rows, payload, channels)
                bound = await bind_meters(conn, bindings)
                outcome = replace(outcome, meters_assigned=bound.assigned, meters_owned_elsewhere=bound.owned_elsewhere)
        except asyncpg.UniqueViolationError as error:
            if attempt == self._write_copy:
                raise  # a key exists: the caller takes the upsert path
            raise RowsRejected(f"database rejected the rows: {error}") from error
        except Exception as error:
            if _is_rejection(error):
                raise RowsRejected(f"database rejected the rows: {error}") from error
            if isinstance(error, _CONNECTION_ERRORS):
                raise DatabaseError(f"database write failed: {error!r}") from error
            raise
        metrics.WRITE_SECONDS.observe(time.perf_counter() - started)
        return outcome

    async def _write_copy(
        self, conn: Conn, rows: Sequence[Row], payload: bytes, channels: Mapping[ChannelKey, ChannelInfo]
    ) -> WriteOutcome:
        started = time.perf_counter()
        await self._copy_into_readings(conn, rows, payload)
        metrics.COPY_SECONDS.observe(time.perf_counter() - started)
        if self.aggregates:
            days = touched_days(rows)
            await conn.execute(_MARK_DAYS, [d[0] for d in days], [d[1] for d in days], [d[2] for d in days])
        await _upsert_channels(conn, channel_writes(rows, channels))
        return WriteOutcome(inserted=len(rows), changed=0)

    async def _write_upsert(
        self, conn: Conn, rows: Sequence[Row], payload: bytes, channels: Mapping[ChannelKey, ChannelInfo]
    ) -> WriteOutcome:
        started = time.perf_counter()
        await self._load_staging(conn, rows, payload)
        metrics.COPY_SECONDS.observe(time.perf_counter() - started)
        counts = await conn.fetch(_UPSERT_MARKING if self.aggregates else _UPSERT)
        inserted = {(c["muid"], c["obis"]): c["inserted"] for c in counts}
        await _upsert_channels(conn, channel_writes(rows, channels, inserted))
        return WriteOutcome(inserted=sum(inserted.values()), changed=sum(c["changed"] for c in counts))

    async def _copy_into_readings(self, conn: Conn, rows: Sequence[Row], payload: bytes) -> None:
        await conn.copy_to_table("readings", source=chunks(payload), columns=COLUMNS, format="binary")

    async def _load_staging(self, conn: Conn, rows: Sequence[Row], payload: bytes) -> None:
        await conn.copy_to_table("readings_staging", source=chunks(payload), columns=COLUMNS, format="binary")

    async def refresh_aggregates(self, max_marks: int = 5_000) -> RefreshOutcome | None:
        """Refresh the continuous aggregates over the day buckets marked by committed writes, then delete
        the marks covered. None when another writer instance holds the refresh lock."""
        if not self.aggregates:
            return RefreshOutcome(0, 0)
        if self._pool is None:
            await self.connect()
        assert self._pool is not None
        try:
            async with self._pool.acquire() as conn:
                if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", REFRESH_LOCK_KEY):
                    return None
                try:
                    return await self._refresh_marked(conn, max_marks)
                finally:
                    await conn.execute("SELECT pg_advisory_unlock($1)", REFRESH_LOCK_KEY)
        except _CONNECTION_ERRORS as error:
            raise DatabaseError(f"aggregate refresh failed: {error!r}") from error

    async def _refresh_marked(self, conn: Conn, max_marks: int) -> RefreshOutcome:
        marks = await conn.fetch(_SELECT_MARKS, max_marks)
        if not marks:
            metrics.OLDEST_MARK_AGE.set(0)
            return RefreshOutcome(0, 0)
        windows = day_windows(mark["bucket"] for mark in marks)
        started = time.perf_counter()
        for start, end in windows:
            for view in self.aggregates:
                # refresh_continuous_aggregate refuses to run inside a transaction block, which the
                # extended protocol's implicit transaction counts as: send it as a simple query. The
                # view name comes from AGGREGATES and the bounds are datetimes, never outside input.
                await conn.execute(
                    f"CALL refresh_continuous_aggregate({_literal(view)}, {_literal(start)}::timestamptz,"
                    f" {_literal(end)}::timestamptz)"
                )
        await conn.execute(
            _DELETE_MARKS,
            [m["muid"] for m in marks],
            [m["obis"] for m in marks],
            [m["bucket"] for m in marks],
            [m["marked_at"] for m in marks],
        )
        metrics.REFRESH_SECONDS.observe(time.perf_counter() - started)
        metrics.OLDEST_MARK_AGE.set(await conn.fetchval(_OLDEST_MARK_AGE))
        return RefreshOutcome(marks=len(marks), windows=len(windows))


async def _upsert_channels(conn: Conn, writes: Sequence[ChannelWrite]) -> None:
    if not writes:
        return  # nothing new: a replay or a correction leaves channels untouched
    await conn.execute(
        _UPSERT_CHANNELS,
        [w.muid for w in writes],
        [w.obis for w in writes],
        [w.quantity for w in writes],
        [w.direction for w in writes],
        [w.unit for w in writes],
        [w.measurement for w in writes],
        [w.interval_s for w in writes],
        [w.first_ts for w in writes],
        [w.last_ts for w in writes],
        [w.inserted for w in writes],
    )


def _literal(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text.replace("'", "''") + "'"
