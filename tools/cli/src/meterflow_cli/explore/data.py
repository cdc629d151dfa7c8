"""Reading what the report analyses from the database: the channels of the meters and their readings."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
import pandas as pd

from meterflow_cli.explore.analysis import Channel

CHANNELS = """
SELECT muid::text, obis, quantity, direction, unit, coalesce(interval_s, 900) AS interval_s, first_ts, last_ts
FROM channels WHERE muid = ANY($1::uuid[]) ORDER BY muid, obis
"""
SITE_CHANNELS = """
SELECT muid, obis FROM site_channels WHERE site = $1 AND role IN ('import', 'export', 'production')
"""
READINGS = """
SELECT ts, value, quality FROM readings
WHERE muid = $1 AND obis = $2 AND ts >= $3 AND ts < $4
ORDER BY ts
"""


class NoData(LookupError):
    """The meters have no channel, or no reading in the period: there is nothing to explore."""


async def load(
    dsn: str, muids: list[UUID], start: datetime | None, end: datetime | None, site: str | None = None
) -> list[tuple[Channel, pd.Series]]:
    """Each channel of the meters, and the grid and production channels of ``site``, with its readings in
    [start, end) (default: the channel's whole span).

    The series holds kWh per interval indexed by UTC interval start; ``series.attrs["quality"]`` counts the
    readings per quality flag.
    """
    conn = await asyncpg.connect(dsn)
    try:
        wanted = await _site_channels(conn, site) if site is not None else set()
        rows = [
            row
            for row in await conn.fetch(CHANNELS, [*muids, *(muid for muid, _ in wanted)])
            if UUID(row["muid"]) in muids or (UUID(row["muid"]), row["obis"]) in wanted
        ]
        if not rows:
            named = [str(m) for m in muids] + ([f"site {site}"] if site is not None else [])
            raise NoData(f"no channel stored for {', '.join(named)}")
        loaded = []
        for row in rows:
            channel = Channel(
                row["muid"], row["obis"], row["quantity"], row["direction"], row["unit"], row["interval_s"]
            )
            first = start or row["first_ts"]
            stop = end or row["last_ts"] + pd.Timedelta(seconds=channel.interval_s)
            readings = await conn.fetch(READINGS, UUID(channel.muid), channel.obis, first, stop)
            if readings:
                loaded.append((channel, _series(readings)))
        if not loaded:
            raise NoData("no reading in the period")
        return loaded
    finally:
        await conn.close()


async def _site_channels(conn: asyncpg.Connection, site: str) -> set[tuple[UUID, str]]:
    rows = await conn.fetch(SITE_CHANNELS, site)
    if not rows:
        raise NoData(f"no site {site!r} (meterflow sites list shows the sites)")
    return {(row["muid"], row["obis"]) for row in rows}


def _series(rows: list[asyncpg.Record]) -> pd.Series:
    index = pd.DatetimeIndex([r["ts"] for r in rows]).tz_convert("UTC")
    series = pd.Series([r["value"] for r in rows], index=index, dtype=float)
    series.attrs["quality"] = pd.Series([r["quality"] for r in rows]).value_counts().to_dict()
    return series
