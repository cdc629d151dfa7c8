"""The channels table (migration 0006) outside the writer's own upkeep: a channel's metadata decoded from its
OBIS code, and the recomputation of channel rows from the readings.

The writer keeps channels current incrementally, in the transaction that writes the readings
(services/writer db.py). Everything else that writes readings (a bulk load with plain SQL, a test fixture,
a repair by hand) calls :func:`refresh_channels` afterwards for the channels it touched; migration 0006
calls it once for all (:func:`backfill_channels`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING
from uuid import UUID

from meterflow_obis import ObisError, decode

if TYPE_CHECKING:
    import asyncpg
    from asyncpg.pool import PoolConnectionProxy

    Conn = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

ChannelKey = tuple[UUID, str]
"""(muid, normalized OBIS code): the primary key of channels and of a series in readings."""


@dataclass(frozen=True, slots=True)
class ChannelMeta:
    """What a channel measures, as stored in channels: the decoding the normalizer does, and the source's
    measurement kind (``energy`` or ``power``; other quantities name themselves)."""

    quantity: str
    direction: str | None
    unit: str | None
    measurement: str


@lru_cache(maxsize=4_096)
def describe_obis(obis: str) -> ChannelMeta:
    """A channel's metadata from its OBIS code alone; a code meterflow_obis cannot parse is 'unknown'."""
    try:
        info = decode(obis)
    except ObisError:
        return ChannelMeta(quantity="unknown", direction=None, unit=None, measurement="unknown")
    return ChannelMeta(info.quantity, info.direction, info.unit, measurement_of(info.quantity))


def measurement_of(quantity: str) -> str:
    """The source's measurement kind for a decoded quantity: energy or power, else the quantity itself."""
    if quantity.endswith("_energy"):
        return "energy"
    if quantity.endswith("_power"):
        return "power"
    return quantity


# One pass over the readings in scope: per channel and step (the gap to the previous reading; NULL for
# the first), how many readings and their first and last ts. The channel's sums come from these few rows,
# and its interval is the most frequent step (the shorter one on a tie), as the query API infers it.
_STATS = """
WITH per_step AS (
    SELECT muid, obis, step, count(*) AS n, min(ts) AS first_ts, max(ts) AS last_ts
    FROM (
        SELECT muid, obis, ts, ts - lag(ts) OVER (PARTITION BY muid, obis ORDER BY ts) AS step
        FROM {scope}
    ) steps
    GROUP BY muid, obis, step
), usual AS (
    SELECT DISTINCT ON (muid, obis) muid, obis, step
    FROM per_step
    WHERE step IS NOT NULL
    ORDER BY muid, obis, n DESC, step ASC
)
SELECT c.muid, c.obis, c.first_ts, c.last_ts, c.readings, extract(epoch FROM u.step)::integer AS interval_s
FROM (
    SELECT muid, obis, min(first_ts) AS first_ts, max(last_ts) AS last_ts, sum(n)::bigint AS readings
    FROM per_step
    GROUP BY muid, obis
) c
LEFT JOIN usual u USING (muid, obis)
ORDER BY c.muid, c.obis
"""
_ALL_READINGS = "readings"
_KEYED_READINGS = """(
            SELECT r.muid, r.obis, r.ts
            FROM readings r
            JOIN unnest($1::uuid[], $2::text[]) AS k(muid, obis) ON r.muid = k.muid AND r.obis = k.obis
        ) keyed"""

# Channels rows from ten parallel arrays ($1 muid .. $10 readings, the table's column order), sorted by key:
# one lock order for every writer of channels. Each statement that upserts channels (here: replace with a
# recomputation; the writer: add what a write inserted) appends its own ON CONFLICT clause.
INSERT_CHANNEL_ROWS = """
INSERT INTO channels AS c
    (muid, obis, quantity, direction, unit, measurement, interval_s, first_ts, last_ts, readings)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::integer[],
                     $8::timestamptz[], $9::timestamptz[], $10::bigint[])
ORDER BY 1, 2
"""
_UPSERT = (
    INSERT_CHANNEL_ROWS
    + """ON CONFLICT (muid, obis) DO UPDATE
SET quantity = excluded.quantity, direction = excluded.direction, unit = excluded.unit,
    measurement = excluded.measurement, interval_s = excluded.interval_s, first_ts = excluded.first_ts,
    last_ts = excluded.last_ts, readings = excluded.readings, updated_at = now()
"""
)
_DELETE_ALL_EMPTY = """
DELETE FROM channels c WHERE NOT EXISTS (SELECT 1 FROM readings r WHERE r.muid = c.muid AND r.obis = c.obis)
"""
_DELETE_KEYED_EMPTY = """
DELETE FROM channels c
USING unnest($1::uuid[], $2::text[]) AS k(muid, obis)
WHERE c.muid = k.muid AND c.obis = k.obis
  AND NOT EXISTS (SELECT 1 FROM readings r WHERE r.muid = c.muid AND r.obis = c.obis)
"""
# Conflicts with the writer's row-exclusive lock: a writer transaction that inserted readings we cannot see
# yet waits for us and then adds its rows to what we computed, one that committed before is in our counts.
_LOCK = "LOCK TABLE channels IN SHARE ROW EXCLUSIVE MODE"


async def refresh_channels(conn: Conn, keys: Iterable[ChannelKey] | None = None) -> int:
    """Recompute the channels rows of ``keys`` (every channel when None) from readings; return how many
    channels have readings and were written.

    Sets first_ts, last_ts and readings from the rows in readings, interval_s as their most frequent step
    (NULL for a single reading), and quantity, direction, unit and measurement decoded from the OBIS code
    (:func:`describe_obis`); deletes the rows of channels left without readings. Runs in one transaction
    (a savepoint inside the caller's) that locks channels against concurrent writers until it ends, so the
    counts stay exact while the writer runs; the scan is proportional to the readings of ``keys``.
    """
    wanted = None if keys is None else sorted(set(keys))
    async with conn.transaction():
        await conn.execute(_LOCK)
        if wanted is None:
            stats = await conn.fetch(_STATS.format(scope=_ALL_READINGS))
            await conn.execute(_DELETE_ALL_EMPTY)
        else:
            muids, codes = [k[0] for k in wanted], [k[1] for k in wanted]
            stats = await conn.fetch(_STATS.format(scope=_KEYED_READINGS), muids, codes)
            await conn.execute(_DELETE_KEYED_EMPTY, muids, codes)
        if stats:
            await conn.execute(_UPSERT, *_columns(stats))
    return len(stats)


def _columns(stats: list[asyncpg.Record]) -> list[list[object]]:
    metas = [describe_obis(row["obis"]) for row in stats]
    return [
        [row["muid"] for row in stats],
        [row["obis"] for row in stats],
        [m.quantity for m in metas],
        [m.direction for m in metas],
        [m.unit for m in metas],
        [m.measurement for m in metas],
        [row["interval_s"] for row in stats],
        [row["first_ts"] for row in stats],
        [row["last_ts"] for row in stats],
        [row["readings"] for row in stats],
    ]


async def backfill_channels(conn: asyncpg.Connection) -> None:
    """Migration 0006's Python step: fill channels from every reading already stored."""
    await refresh_channels(conn)
