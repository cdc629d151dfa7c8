"""The writer keeps the channels table exact, in the transaction that writes the readings: its Database
against the real PostgreSQL, on the optimistic COPY path and on the staging upsert path.

After every write the table must equal a recomputation from readings (tests/channel_truth.py): the count of
rows, the first and last interval start, and the metadata.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from channel_truth import recomputed_channels, stored_channels
from meterflow_contracts import ReadingBatch
from meterflow_harness.messages import reading_batch
from meterflow_writer.db import Database
from meterflow_writer.domain import Row, channel_infos, rows_of, write_isolating_rejects
from readings_io import START, meter

pytestmark = pytest.mark.integration

IMPORT, EXPORT = "1-0:1.29.0*255", "1-0:2.29.0*255"


@pytest.fixture
async def db(database: str) -> AsyncIterator[Database]:
    writer_db = Database(database)
    await writer_db.connect()
    yield writer_db
    await writer_db.close()


def messages(values: float, *, days: int = 2, meters: int = 3, offset: int = 0) -> list[ReadingBatch]:
    """Per meter and channel one message of ``days`` days of 15-minute readings, ``offset`` steps later."""
    start = START + timedelta(minutes=15 * offset)
    return [
        reading_batch(meter(m), obis, start, [values + i for i in range(96 * days)])
        for m in range(meters)
        for obis in (IMPORT, EXPORT)
    ]


async def write(db: Database, batches: Sequence[ReadingBatch]) -> tuple[int, int]:
    rows = [row for batch in batches for row in rows_of(batch)]
    outcome = await db.write(rows, None, channel_infos(batches))
    return outcome.inserted, outcome.changed


async def channels_state(dsn: str) -> tuple[list[Any], list[Any], dict[Any, datetime]]:
    """The stored channels, the recomputation from readings, and each channel's updated_at."""
    conn = await asyncpg.connect(dsn)
    try:
        updated = {(r["muid"], r["obis"]): r["updated_at"] for r in await conn.fetch("SELECT * FROM channels")}
        return await stored_channels(conn), await recomputed_channels(conn), updated
    finally:
        await conn.close()


async def assert_channels_exact(dsn: str) -> list[Any]:
    stored, recomputed, _ = await channels_state(dsn)
    assert stored == recomputed
    return stored


async def test_a_load_fills_channels_with_the_batches_metadata(db: Database, database: str) -> None:
    assert await write(db, messages(0.0)) == (6 * 192, 0)  # the optimistic COPY

    stored = await assert_channels_exact(database)
    assert len(stored) == 6
    by_obis = {c[1]: c for c in stored if c[0] == meter(0)}
    last = START + timedelta(minutes=15 * 191)
    assert by_obis[IMPORT][2:] == ("active_energy", "import", "kWh", "energy", 900, START, last, 192)
    assert by_obis[EXPORT][3] == "export"


async def test_a_replay_changes_nothing_and_a_correction_keeps_the_count(db: Database, database: str) -> None:
    await write(db, messages(0.0))
    before, _, updated = await channels_state(database)

    assert await write(db, messages(0.0)) == (0, 0)  # replay: the COPY fails, the upsert inserts nothing
    after, _, updated_after = await channels_state(database)
    assert after == before
    assert updated_after == updated  # not one channel row rewritten

    assert await write(db, messages(5.0)[:2]) == (0, 2 * 192)  # a correction of one meter
    assert await assert_channels_exact(database) == before


async def test_late_and_new_data_move_the_span_and_add_only_what_was_inserted(db: Database, database: str) -> None:
    three_days = messages(0.0, days=3)
    await write(db, [b.model_copy(update={"readings": b.readings[96:192]}) for b in three_days])
    # One write with the day before (late data), the known day again and the day after: 2 of 3 days are new.
    assert await write(db, three_days) == (6 * 192, 0)

    stored = await assert_channels_exact(database)
    assert {(c[7], c[8], c[9]) for c in stored} == {(START, START + timedelta(minutes=15 * (3 * 96 - 1)), 288)}


async def test_a_single_reading_has_no_interval_until_more_arrive(db: Database, database: str) -> None:
    first = reading_batch(meter(0), IMPORT, START, [1.0])
    await write(db, [first])
    assert [c[6] for c in await assert_channels_exact(database)] == [None]

    await write(db, [reading_batch(meter(0), IMPORT, START + timedelta(minutes=15), [2.0, 3.0])])
    assert [(c[6], c[9]) for c in await assert_channels_exact(database)] == [(900, 3)]


async def test_rows_isolated_from_rejected_ones_leave_channels_exact(db: Database, database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("ALTER TABLE readings ADD CONSTRAINT test_value_not_negative CHECK (value >= 0)")
    finally:
        await conn.close()
    batches = messages(0.0)
    rows = [row for batch in batches for row in rows_of(batch)]
    poisoned = {5, 200, 700}
    rows = [(m, o, ts, -1.0 if i in poisoned else v, q, sm, sr) for i, (m, o, ts, v, q, sm, sr) in enumerate(rows)]
    infos = channel_infos(batches)

    async def write_part(part: Sequence[Row]) -> Any:
        return await db.write(part, None, infos)

    outcome, rejected = await write_isolating_rejects(rows, write_part, db.is_rejection)

    assert (outcome.inserted, len(rejected)) == (len(rows) - 3, 3)
    stored = await assert_channels_exact(database)
    assert sum(c[9] for c in stored) == len(rows) - 3


async def test_concurrent_writers_of_the_same_channels_add_up(database: str) -> None:
    """Two writers upserting overlapping and new rows of the same channels at once: no deadlock (one lock
    order) and exact counts (increments commute)."""
    dbs = [Database(database, optimistic=False) for _ in range(2)]
    for each in dbs:
        await each.connect()
    try:
        rounds = [(messages(0.0, days=1, offset=48 * n), messages(0.0, days=1, offset=48 * n + 24)) for n in range(6)]
        for a, b in rounds:
            await asyncio.gather(write(dbs[0], a), write(dbs[1], b))
    finally:
        for each in dbs:
            await each.close()
    stored = await assert_channels_exact(database)
    assert {c[9] for c in stored} == {96 + 5 * 48 + 24}
