"""The writer's background observations besides its own writes: its group's time lag, read from the broker
(meterflow_kit.lag), and the fleet's completeness, read from the database (completeness.py)."""

from __future__ import annotations

import asyncio

from meterflow_kit.lag import GroupLagExporter, export_lag_forever

from meterflow_writer import completeness, metrics
from meterflow_writer.config import Settings


async def observe_forever(s: Settings, stop: asyncio.Event) -> None:
    """Until ``stop``: both loops, each at its own interval."""
    lag = GroupLagExporter(s.kafka, s.group_id, [s.readings_topic], None, metrics.CONSUMER_OLDEST_UNPROCESSED)
    dsn = str(s.database_url)
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(export_lag_forever(lag, s.lag_interval_s, stop))
        tasks.create_task(completeness.check_forever(dsn, s.completeness_interval_s, s.db_timeout_s, stop))
