"""What the channels table must hold, computed in Python from the rows of readings (independently of the SQL
in meterflow_schema and the writer), and what it does hold: tests compare the two."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from itertools import pairwise
from typing import Any
from uuid import UUID

import asyncpg
from meterflow_obis import ObisError, decode

ChannelRow = tuple[UUID, str, str, str | None, str | None, str, int | None, datetime, datetime, int]
"""(muid, obis, quantity, direction, unit, measurement, interval_s, first_ts, last_ts, readings)."""

_STORED = """
SELECT muid, obis, quantity, direction, unit, measurement, interval_s, first_ts, last_ts, readings
FROM channels ORDER BY muid, obis
"""


def _metadata(obis: str) -> tuple[str, str | None, str | None, str]:
    try:
        info = decode(obis)
    except ObisError:
        return "unknown", None, None, "unknown"
    kind = "energy" if info.quantity.endswith("_energy") else "power" if info.quantity.endswith("_power") else None
    return info.quantity, info.direction, info.unit, kind or info.quantity


def _usual_step(timestamps: list[datetime]) -> int | None:
    """The most frequent gap between consecutive readings, in seconds; the shorter one on a tie."""
    steps = Counter(int((b - a).total_seconds()) for a, b in pairwise(timestamps))
    if not steps:
        return None
    return min(steps, key=lambda step: (-steps[step], step))


def expected_channels(rows: list[tuple[UUID, str, datetime]]) -> list[ChannelRow]:
    """The channels rows for these (muid, obis, ts) rows of readings."""
    series: dict[tuple[UUID, str], list[datetime]] = defaultdict(list)
    for muid, obis, ts in rows:
        series[(muid, obis)].append(ts)
    out: list[ChannelRow] = []
    for (muid, obis), stamps in sorted(series.items()):
        stamps.sort()
        out.append((muid, obis, *_metadata(obis), _usual_step(stamps), stamps[0], stamps[-1], len(stamps)))
    return out


async def recomputed_channels(conn: asyncpg.Connection[Any] | Any) -> list[ChannelRow]:
    """The channels rows that the readings table, as it is now, calls for."""
    rows = await conn.fetch("SELECT muid, obis, ts FROM readings")
    return expected_channels([(r["muid"], r["obis"], r["ts"]) for r in rows])


async def stored_channels(conn: asyncpg.Connection[Any] | Any) -> list[ChannelRow]:
    """The channels table's rows (without updated_at), in key order."""
    return [tuple(r.values()) for r in await conn.fetch(_STORED)]


async def assert_channels_match_readings(dsn: str) -> list[ChannelRow]:
    """Fail unless the channels table equals the recomputation from readings; return its rows."""
    conn = await asyncpg.connect(dsn)
    try:
        stored = await stored_channels(conn)
        recomputed = await recomputed_channels(conn)
    finally:
        await conn.close()
    assert stored == recomputed, f"channels differ from readings: {sorted(set(stored) ^ set(recomputed))[:3]}"
    return stored
