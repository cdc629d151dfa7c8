"""Completeness of the fleet, checked periodically from the channels table (one row per meter and channel
with its interval and its last reading) plus one index range scan of the last day of readings.

Why the writer: it owns the channels table's upkeep, already holds the database settings, and runs where
the data arrives; the query API answers users and should not carry a background job per worker. Several
writers report the same fleet-wide numbers (read them with ``max``). Gauges have no labels: a meter's
completeness is a question for ``GET /v1/quality``, not a metric.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from meterflow_kit.lifecycle import sleep_or_stop

from meterflow_writer import metrics

log = structlog.get_logger("meterflow.writer.completeness")

# Meters all of whose channels are silent for more than two of their intervals; the expected intervals of
# the last 24 hours (from a channel's first reading at the earliest) and the readings that arrived for them.
COMPLETENESS_SQL = """
WITH ch AS (
    SELECT muid, obis, interval_s, first_ts, last_ts FROM channels WHERE interval_s > 0
), silent AS (
    SELECT count(*) AS meters FROM (
        SELECT muid FROM ch GROUP BY muid
        HAVING bool_and(last_ts < now() - make_interval(secs => 2 * interval_s))
    ) AS quiet
), expected AS (
    SELECT coalesce(sum(floor(extract(epoch FROM now() - greatest(first_ts, now() - interval '1 day'))
                              / interval_s)), 0)::bigint AS intervals
    FROM ch WHERE first_ts < now()
), present AS (
    SELECT count(*) AS intervals
    FROM readings r JOIN ch USING (muid, obis)
    WHERE r.ts >= now() - interval '1 day' AND r.ts < now()
)
SELECT silent.meters, expected.intervals AS expected, present.intervals AS present
FROM silent, expected, present
"""


async def check_once(dsn: str, timeout_s: float) -> None:
    conn = await asyncpg.connect(dsn, timeout=timeout_s, command_timeout=timeout_s)
    try:
        row = await conn.fetchrow(COMPLETENESS_SQL)
    finally:
        await conn.close()
    if row is None:  # an aggregate query returns one row: never taken
        return
    expected = int(row["expected"])
    metrics.SILENT_METERS.set(int(row["meters"]))
    metrics.EXPECTED_INTERVALS.set(expected)
    metrics.MISSING_INTERVALS.set(max(0, expected - int(row["present"])))
    metrics.COMPLETENESS_CHECKED.set(time.time())


async def check_forever(dsn: str, interval_s: float, timeout_s: float, stop: asyncio.Event) -> None:
    """Check every ``interval_s`` until ``stop``; a failed check is logged and the gauges keep their values
    (their age shows in meterflow_writer_completeness_checked_timestamp_seconds)."""
    while not stop.is_set():
        try:
            await check_once(dsn, timeout_s)
        except (OSError, TimeoutError, asyncpg.PostgresError) as error:
            log.warning("completeness not checked", error=repr(error))
        await sleep_or_stop(stop, interval_s)
