"""On TimescaleDB: keep the continuous aggregates fresh over the day buckets that committed writes marked
(docs/writer.md, "Aggregates"). A task of the writer beside its batcher and loader."""

from __future__ import annotations

import asyncio

import structlog
from meterflow_kit.backoff import backoff_delays
from meterflow_kit.lifecycle import first_of, sleep_or_stop

from meterflow_writer import metrics
from meterflow_writer.config import Settings
from meterflow_writer.db import Database
from meterflow_writer.errors import DatabaseError

log = structlog.get_logger("meterflow.writer")

# Besides the rounds its own writes trigger, look for marks left by other or crashed instances this often.
REFRESH_SWEEP_SECONDS = 30.0
# A stop waits at most this long for the final aggregate refresh; the marks stay for the next start.
FINAL_REFRESH_SECONDS = 10.0
# Marks one round covers at most; more wait for the next round.
MAX_MARKS = 5_000


async def refresh_forever(
    db: Database, settings: Settings, stop: asyncio.Event, wanted: asyncio.Event, loader_done: asyncio.Event
) -> None:
    """After writes that inserted or changed rows (``wanted``), refresh the marked day buckets, at most once
    per refresh_interval_s so that bursts coalesce; on a stop, once more after the loader's last write."""
    delays = backoff_delays(base=0.5, cap=settings.retry_max_s)
    while True:
        await first_of(stop.wait(), wanted.wait(), within_s=REFRESH_SWEEP_SECONDS)
        if stop.is_set():
            await loader_done.wait()
            try:
                async with asyncio.timeout(FINAL_REFRESH_SECONDS):
                    await refresh_round(db)
            except (DatabaseError, TimeoutError) as error:
                log.warning("final aggregate refresh not done; marks stay for the next start", error=repr(error))
            return
        wanted.clear()
        try:
            more = await refresh_round(db)
        except DatabaseError as error:
            metrics.RETRIES.inc()
            delay = next(delays)
            log.warning("aggregate refresh failed, retrying", error=str(error), retry_in_s=round(delay, 2))
            wanted.set()
            await sleep_or_stop(stop, delay)
            continue
        delays = backoff_delays(base=0.5, cap=settings.retry_max_s)
        if more:
            wanted.set()
        await sleep_or_stop(stop, settings.refresh_interval_s)


async def refresh_round(db: Database) -> bool:
    """One refresh round; True when marks may remain (more than one round's worth, or the lock was busy)."""
    outcome = await db.refresh_aggregates(MAX_MARKS)
    if outcome is None:
        return True
    if outcome.marks:
        metrics.REFRESHED_BUCKETS.inc(outcome.marks)
        log.info("aggregates refreshed", buckets=outcome.marks, windows=outcome.windows)
    return outcome.marks >= MAX_MARKS
