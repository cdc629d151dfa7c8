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
READINGS = """
SELECT ts, value, quality FROM readings
WHERE muid = $1 AND obis = $2 AND ts >= $3 AND ts < $4
ORDER BY ts
"""


class NoData(LookupError):
    """The meters have no channel, or no reading in the period: there is nothing to explore."""


async def load(
    dsn: str, muids: list[UUID], start: datetime | None, end: datetime | None
) -> list[tuple[Channel, pd.Series]]:
    """Each channel of the meters with its readings in [start, end) (default: the channel's whole span).

    The series holds kWh per interval indexed by UTC interval start; ``series.attrs["quality"]`` counts the
    readings per quality flag.
    """
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(CHANNELS, muids)
        if not rows:
            raise NoData(f"no channel stored for {', '.join(str(m) for m in muids)}")
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


def _series(rows: list[asyncpg.Record]) -> pd.Series:
    index = pd.DatetimeIndex([r["ts"] for r in rows]).tz_convert("UTC")
    series = pd.Series([r["value"] for r in rows], index=index, dtype=float)
    series.attrs["quality"] = pd.Series([r["quality"] for r in rows]).value_counts().to_dict()
    return series
