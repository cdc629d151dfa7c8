"""The queries of the insight routes over a db.Session's connection, and the one tenancy rule they share.

``scoped_channels`` is the single place where a request's tenant limits what the insight, overview and
fleet routes see: every meter and channel they touch comes from it (tenant None: every tenant).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from meterflow_api import sql_insights
from meterflow_api.db import Database, Session
from meterflow_api.domain import Channel
from meterflow_api.domain.insights import ExportDay, HourEnergy
from meterflow_api.errors import NotFound


@dataclass(frozen=True, slots=True)
class ScopedChannel:
    muid: uuid.UUID
    channel: Channel


async def scoped_channels(session: Session, tenant: str | None, muid: uuid.UUID | None = None) -> list[ScopedChannel]:
    """The channels ``tenant`` may see (None: every tenant), of one meter when ``muid`` is given (then from
    the channel cache); a meter the tenant does not own is unknown to it (404), as is a meter without
    readings."""
    if muid is not None:
        channels = await session.channels(muid, tenant)
        if not channels:
            raise NotFound(f"unknown meter {muid}: no readings stored for it (GET /v1/meters lists the meters)")
        return [ScopedChannel(muid, channel) for channel in channels]
    rows = await session.conn.fetch(sql_insights.SCOPED_CHANNELS, tenant)
    found = [
        ScopedChannel(
            row["muid"],
            Channel(
                row["obis"],
                row["first_ts"],
                row["last_ts"],
                row["quantity"],
                row["direction"],
                row["unit"],
                interval=None if row["interval_s"] is None else timedelta(seconds=row["interval_s"]),
            ),
        )
        for row in rows
    ]
    return found


async def meter_version(database: Database, muid: uuid.UUID, tenant: str | None) -> tuple[Any, ...]:
    """What a meter's ETag derives from: per channel its readings count and last change, from the channel
    cache (API_CHANNEL_CACHE_S) when it holds the meter, so a series request pays no extra query; a write
    shows in the ETag at most that long after it is committed. A meter ``tenant`` may not see (None: any) is
    NotFound here, before any If-None-Match is compared: a 304 never tells that another tenant's meter exists."""
    channels = database.channel_cache.get((muid, tenant))
    if channels is None:
        async with database.session() as session:
            channels = await session.channels(muid, tenant)
    if not channels:
        raise NotFound(f"unknown meter {muid}: no readings stored for it (GET /v1/meters lists the meters)")
    return tuple((c.obis, c.readings, c.updated_at) for c in channels)


async def meters_version(session: Session, muids: Sequence[uuid.UUID]) -> tuple[Any, ...]:
    row = await session.conn.fetchrow(sql_insights.CHANNELS_VERSION, list(muids))
    return tuple(row) if row is not None else ()


async def hourly_energy(
    session: Session, muid: uuid.UUID, obis: str, zone: str, start: datetime, end: datetime, *, from_rollup: bool
) -> list[HourEnergy]:
    """Energy per clock hour of ``zone``: from the hourly rollup when the caller found the zone's clock hours
    to be UTC hours over [start, end) (statistics.whole_hour_offsets), else from the raw rows."""
    query = sql_insights.HOURLY_ENERGY_FROM_ROLLUP if from_rollup else sql_insights.HOURLY_ENERGY
    rows = await session.conn.fetch(query, muid, obis, zone, start, end)
    return [HourEnergy(local, kwh, n) for local, kwh, n in rows]


async def export_days(
    session: Session, muid: uuid.UUID, obis: str, zone: str, start: datetime, end: datetime, step: timedelta
) -> list[ExportDay]:
    rows = await session.conn.fetch(sql_insights.EXPORT_DAYS, muid, obis, zone, start, end)
    tz = ZoneInfo(zone)
    return [
        ExportDay(row["d"], row["first"].astimezone(tz).time(), (row["last"] + step).astimezone(tz).time())
        for row in rows
    ]


async def patterns(
    session: Session,
    muid: uuid.UUID,
    obis: str,
    zone: str,
    start: datetime,
    end: datetime,
    days: list[date] | None,
    *,
    from_rollup: bool,
) -> list[Any]:
    query = sql_insights.PATTERNS_HOURLY if from_rollup else sql_insights.PATTERNS_RAW
    return list(await session.conn.fetch(query, muid, obis, zone, start, end, days))


async def fleet_series(
    session: Session,
    channels: Sequence[tuple[uuid.UUID, str, int]],
    edges: list[datetime],
    start: datetime,
    end: datetime,
    *,
    from_rollup: bool,
) -> list[Any]:
    query = sql_insights.FLEET_SERIES_HOURLY if from_rollup else sql_insights.FLEET_SERIES_RAW
    muids, codes, kinds = ([c[i] for c in channels] for i in range(3))
    return list(await session.conn.fetch(query, muids, codes, kinds, edges, start, end))


async def fleet_top(
    session: Session,
    channels: Sequence[tuple[uuid.UUID, str]],
    start: datetime,
    end: datetime,
    limit: int,
    *,
    from_rollup: bool,
) -> list[Any]:
    query = sql_insights.FLEET_TOP_HOURLY if from_rollup else sql_insights.FLEET_TOP_RAW
    muids, codes = [c[0] for c in channels], [c[1] for c in channels]
    return list(await session.conn.fetch(query, muids, codes, start, end, limit))
