"""PostgreSQL adapter of the query API: every query it runs, with bound parameters only.

The queries read the raw ``readings`` rows and aggregate them in SQL, which is right for any time zone and
for late or corrected data. The one exception: a series whose bucket bounds are all whole UTC hours (1h and
longer buckets in zones with whole-hour offsets) is summed from the ``readings_hourly`` rollup when the
database keeps one (see sql.SERIES_FROM_HOURLY and ``API_SERIES_FROM_AGGREGATES``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from meterflow_api import sql
from meterflow_api.domain import Channel, SeriesPlan

ROLLUP_RECHECK_S = 60.0


class SeriesRow(NamedTuple):
    """One bucket of a series: its bounds and aggregates (None when count is 0)."""

    start: datetime
    end: datetime
    total: float | None
    mean: float | None
    lo: float | None
    hi: float | None
    n: int  # readings in the bucket


class ReadingColumns(NamedTuple):
    """A page of raw readings as columns, oldest first: instants (epoch microseconds, see instants.py), values
    and quality codes."""

    micros: list[int]
    values: list[float]
    qualities: list[str]


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """A row of /v1/meters: one channel of a meter."""

    muid: str
    obis: str
    quantity: str
    direction: str | None
    unit: str | None
    first: datetime
    last: datetime
    count: int


@dataclass(frozen=True, slots=True)
class ChannelQualityRow:
    """A row of /v1/quality: one channel of a meter, with the meter's and the channel's silent flags."""

    muid: str
    meter_silent: bool
    obis: str
    interval_s: int | None
    first: datetime
    last: datetime
    count: int
    silent: bool


@dataclass(frozen=True, slots=True)
class Stats:
    count: int
    total: float | None
    mean: float | None
    base_load: float | None
    min_value: float | None
    min_at: datetime | None
    max_value: float | None
    max_at: datetime | None
    peak_hour: int | None
    step: timedelta | None


# A cached channel list is that of a meter as seen by a tenant (None: every tenant).
MeterAsSeen = tuple[uuid.UUID, str | None]


class ChannelCache:
    """The channels (and their first/last interval) of recently asked meters, for ``ttl_s`` seconds.

    Every request needs them (to pick the channel, say 404, default start/end); caching them saves one of
    the two queries of a series request. The price: a meter or channel that appears, or readings newer than
    a cached last interval, show up to ``ttl_s`` late (ttl 0 turns the cache off); so does a change of the
    meter's owner, since entries are kept per meter and tenant."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[MeterAsSeen, tuple[float, list[Channel]]] = {}

    def get(self, muid: MeterAsSeen) -> list[Channel] | None:
        entry = self._entries.get(muid)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, muid: MeterAsSeen, channels: list[Channel]) -> None:
        if self.ttl_s <= 0:
            return
        if len(self._entries) >= self.max_entries:
            now = time.monotonic()
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= now}
            while len(self._entries) >= self.max_entries:  # all fresh: drop the oldest entries
                del self._entries[next(iter(self._entries))]
        self._entries[muid] = (time.monotonic() + self.ttl_s, channels)


class Database:
    """A pool of asyncpg connections; created in the app's lifespan, never at import.

    A request takes one connection for all its queries: ``async with db.session() as session``.
    """

    def __init__(
        self, pool: asyncpg.Pool, *, min_size: int, acquire_timeout: float, channel_cache_s: float = 0.0
    ) -> None:
        self.pool = pool
        self.min_size = min_size
        self.acquire_timeout = acquire_timeout
        self.hourly_rollup = False
        self._rollup_recheck_at = 0.0
        self.channel_cache = ChannelCache(channel_cache_s)

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        min_size: int,
        max_size: int,
        acquire_timeout: float,
        statement_timeout_ms: int,
        statement_cache_size: int,
        search_path: str | None = None,
        channel_cache_s: float = 0.0,
    ) -> Database:
        """Create the pool without connecting (min_size 0): the service starts even while the database is
        down and /readyz says so; connections open on first use (warm_up opens the first few)."""
        server_settings = {"application_name": "meterflow-api"}
        if statement_timeout_ms:
            server_settings["statement_timeout"] = str(statement_timeout_ms)
        if search_path is not None:
            server_settings["search_path"] = search_path

        async def init(connection: asyncpg.Connection) -> None:
            # Also as a SET: some servers (the PGlite test server, poolers) ignore startup parameters.
            if search_path is not None:
                await connection.execute("SELECT set_config('search_path', $1, false)", search_path)

        pool = await asyncpg.create_pool(
            dsn,
            init=init,
            reset=_reset,
            min_size=0,
            max_size=max_size,
            statement_cache_size=statement_cache_size,
            server_settings=server_settings,
        )
        return cls(pool, min_size=min_size, acquire_timeout=acquire_timeout, channel_cache_s=channel_cache_s)

    async def close(self) -> None:
        await self.pool.close()

    async def warm_up(self) -> None:
        """Open ``min_size`` connections now so the first requests do not pay for them."""
        connections = [await self.pool.acquire(timeout=self.acquire_timeout) for _ in range(max(1, self.min_size))]
        for connection in connections:
            await self.pool.release(connection)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[Session]:
        async with self.pool.acquire(timeout=self.acquire_timeout) as connection:
            yield Session(connection, self.channel_cache)

    async def ping(self, within_s: float) -> None:
        async with self.pool.acquire(timeout=within_s) as connection:
            await connection.fetchval("SELECT 1", timeout=within_s)

    async def uses_hourly_rollup(self, session: Session) -> bool:
        """Whether readings_hourly is materialized, so series may be summed from it (see sql.SERIES_FROM_HOURLY).
        Asked once, and again every ROLLUP_RECHECK_S while the answer is no: the migration may come later."""
        now = time.monotonic()
        if not self.hourly_rollup and now >= self._rollup_recheck_at:
            self._rollup_recheck_at = now + ROLLUP_RECHECK_S
            self.hourly_rollup = await session.hourly_rollup_available()
        return self.hourly_rollup


async def _reset(connection: asyncpg.Connection) -> None:
    """Replaces asyncpg's reset on release (RESET ALL, UNLISTEN, ...: one more round trip per request). The API
    never changes session state (no SET after connect, LISTEN, advisory locks, cursors, open transactions);
    only a transaction left open by an error would carry over, so that one is rolled back."""
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


class Session:
    """The queries, over one connection of the pool."""

    def __init__(self, conn: asyncpg.Connection | PoolConnectionProxy, channel_cache: ChannelCache) -> None:
        self.conn = conn
        self.channel_cache = channel_cache

    async def _fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(query, *args)
        return rows

    async def _fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.conn.fetchrow(query, *args)
        return row

    async def hourly_rollup_available(self) -> bool:
        if await self.conn.fetchval(sql.HOURLY_TABLE):
            return True
        return bool(await self.conn.fetchval(sql.TIMESCALEDB)) and bool(await self.conn.fetchval(sql.HOURLY_CAGG))

    async def channels(self, muid: uuid.UUID, tenant: str | None) -> list[Channel]:
        """The meter's channels; none when ``tenant`` (None: every tenant) does not own it."""
        cached = self.channel_cache.get((muid, tenant))
        if cached is not None:
            return cached
        if tenant is None:
            rows = await self._fetch(sql.CHANNELS, muid)
        else:
            rows = await self._fetch(sql.CHANNELS_OF_TENANT, muid, tenant)
        channels = [
            Channel(
                obis,
                first,
                last,
                quantity,
                direction,
                unit,
                measurement,
                None if interval_s is None else timedelta(seconds=interval_s),
                readings,
                updated_at,
            )
            for obis, first, last, quantity, direction, unit, measurement, interval_s, readings, updated_at in rows
        ]
        self.channel_cache.put((muid, tenant), channels)
        return channels

    async def meters(self, limit: int, after: uuid.UUID | None, tenant: str | None) -> list[ChannelSummary]:
        """The channels of the first ``limit`` meters (by muid) after ``after``, by muid and obis; only those
        of ``tenant`` unless it is None."""
        if tenant is not None:
            if after is None:
                rows = await self._fetch(sql.TENANT_METERS_FIRST, limit, tenant)
            else:
                rows = await self._fetch(sql.TENANT_METERS_AFTER, limit, tenant, after)
        elif after is None:
            rows = await self._fetch(sql.METERS_FIRST, limit)
        else:
            rows = await self._fetch(sql.METERS_AFTER, limit, after)
        return [ChannelSummary(str(row[0]), *row[1:]) for row in rows]

    async def quality(
        self, limit: int, after: uuid.UUID | None, silent: bool | None, tenant: str | None
    ) -> list[ChannelQualityRow]:
        """The channels of the first ``limit`` meters after ``after`` (by muid) with their silent flags:
        only silent or only reporting meters with ``silent``, only ``tenant``'s meters unless it is None
        (None: every tenant; the one place /v1/quality resolves which meters a caller may see)."""
        rows = await self._fetch(sql.QUALITY, limit, after, silent, tenant)
        return [ChannelQualityRow(str(row[0]), *row[1:]) for row in rows]

    async def readings(self, muid: uuid.UUID, obis: str, start: datetime, end: datetime, limit: int) -> ReadingColumns:
        """At most ``limit`` readings of [start, end), oldest first, as columns."""
        row = await self._fetchrow(sql.READINGS, muid, obis, start, end, limit)
        if row is None or row[0] is None:
            return ReadingColumns([], [], [])
        return ReadingColumns(row[0], row[1], row[2])

    async def series(
        self, muid: uuid.UUID, obis: str, plan: SeriesPlan, days: list[date] | None = None
    ) -> list[SeriesRow]:
        """Every bucket of the plan, aggregated from the raw rows (of the local ``days`` only, unless None)."""
        interval = plan.interval
        if interval.fixed is not None:
            rows = await self._fetch(
                sql.SERIES_FIXED,
                muid,
                obis,
                plan.first_utc,
                plan.last_utc,
                interval.fixed,
                plan.start,
                plan.end,
                days,
                plan.zone.key,
            )
        else:
            rows = await self._fetch(
                sql.SERIES_CALENDAR,
                muid,
                obis,
                plan.first_local,
                plan.last_local,
                interval.months,
                interval.days,
                plan.zone.key,
                plan.start,
                plan.end,
                days,
            )
        return [SeriesRow(*row) for row in rows]

    async def series_from_hourly(
        self, muid: uuid.UUID, obis: str, plan: SeriesPlan, edges: list[datetime], days: list[date] | None = None
    ) -> list[SeriesRow]:
        """The same from the hourly rollup; ``edges`` (UTC, whole hours) bound the plan's buckets."""
        rows = await self._fetch(sql.SERIES_FROM_HOURLY, muid, obis, edges, plan.start, plan.end, days, plan.zone.key)
        found = {row[0]: row for row in rows}
        series: list[SeriesRow] = []
        for index in range(1, len(edges)):
            row = found.get(index)
            lo, hi = edges[index - 1], edges[index]
            if row is None:
                series.append(SeriesRow(lo, hi, None, None, None, None, 0))
            else:
                series.append(SeriesRow(lo, hi, *row[1:]))
        return series

    async def profile(
        self, muid: uuid.UUID, obis: str, zone: str, start: datetime, end: datetime, days: list[date] | None = None
    ) -> list[tuple[int, int | None, int | None, float]]:
        rows = await self._fetch(sql.PROFILE, muid, obis, zone, start, end, days)
        return [(row["g"], row["weekday"], row["hour"], row["mean"]) for row in rows]

    async def stats(
        self,
        muid: uuid.UUID,
        obis: str,
        zone: str,
        start: datetime,
        end: datetime,
        percentile: float,
        days: list[date] | None = None,
    ) -> Stats:
        row = await self._fetchrow(sql.STATS, muid, obis, start, end, zone, percentile, days)
        assert row is not None  # an aggregate without GROUP BY always yields one row
        return Stats(
            count=row["n"],
            total=row["total"],
            mean=row["mean"],
            base_load=row["base_load"],
            min_value=row["min_value"],
            min_at=row["min_at"],
            max_value=row["max_value"],
            max_at=row["max_at"],
            peak_hour=row["peak_hour"],
            step=row["step"],
        )

    async def values(
        self, muid: uuid.UUID, obis: str, start: datetime, end: datetime
    ) -> tuple[list[datetime], list[float]]:
        rows = await self._fetch(sql.VALUES, muid, obis, start, end)
        return [row[0] for row in rows], [row[1] for row in rows]

    async def source_records(
        self, muid: uuid.UUID, codes: Sequence[str], start: datetime, end: datetime, limit: int
    ) -> list[asyncpg.Record]:
        return await self._fetch(sql.SOURCE_RECORDS, muid, list(codes), start, end, limit)
