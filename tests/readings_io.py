"""Readings in and out of the writer's tests: synthetic meter.readings.v1 streams, producing them to a
per-test topic, the readings table compared with its source, the dead letters a run left.

Used by tests/integration/writer and tests/reliability (tests/ is on sys.path through tests/conftest.py).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer
from meterflow_contracts import DLQ, DeadLetter, ReadingBatch
from meterflow_harness.kafka import produce
from meterflow_harness.messages import encoded_batches, reading_batch

Key = tuple[uuid.UUID, str, datetime]
START = datetime(2023, 2, 1, tzinfo=UTC)
OBIS = ("1-0:1.29.0*255", "1-0:2.29.0*255")
NAMESPACE = uuid.UUID("6d657465-7266-6c6f-7700-000000000000")


def meter(index: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"meter-{index}")


def stream(
    messages: int, per_message: int, *, meters: int = 40, seed: int = 0, etag: str = "etag-1"
) -> list[ReadingBatch]:
    """``messages`` batches of ``per_message`` readings: meters x 2 channels, each message the next time span
    of its series, so every reading is distinct. Values are a pure function of (message, index)."""
    out: list[ReadingBatch] = []
    spans: dict[tuple[int, str], int] = {}
    for m in range(messages):
        meter_index = m % meters
        obis = OBIS[(m // meters) % 2]
        span = spans.get((meter_index, obis), 0)
        spans[(meter_index, obis)] = span + 1
        start = START + timedelta(minutes=15 * per_message * span)
        values = [round(seed + m * 0.5 + i * 0.001, 6) for i in range(per_message)]
        out.append(
            reading_batch(meter(meter_index), obis, start, values, key=f"meters/{meter_index}.json", etag=etag, chunk=m)
        )
    return out


def expected_rows(batches: Iterable[ReadingBatch]) -> dict[Key, tuple[float, str]]:
    """What the table must hold after ``batches`` in this order: the latest delivery of a key wins."""
    out: dict[Key, tuple[float, str]] = {}
    for batch in batches:
        for ts, value, quality in batch.readings:
            out[(batch.muid, batch.obis, ts)] = (value, quality)
    return out


async def produce_readings(bootstrap: str, topic: str, messages: Iterable[ReadingBatch | tuple[bytes, bytes]]) -> int:
    """Send each batch keyed by its muid (as the normalizer does); raw (key, value) pairs as they are."""
    encoded = [encoded_batches([message])[0] if isinstance(message, ReadingBatch) else message for message in messages]
    return await produce(bootstrap, topic, encoded)


async def count_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval("SELECT count(*) FROM readings")
        return value
    finally:
        await conn.close()


async def table(dsn: str) -> dict[Key, tuple[float, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT muid, obis, ts, value, quality FROM readings")
    finally:
        await conn.close()
    return {(r["muid"], r["obis"], r["ts"]): (r["value"], r["quality"]) for r in rows}


async def assert_table_equals(dsn: str, expected: dict[Key, tuple[float, str]]) -> None:
    """Exactly one row per distinct source reading, each with the source's value and quality."""
    actual = await table(dsn)
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    wrong = [k for k in expected.keys() & actual.keys() if actual[k] != expected[k]]
    assert not missing and not extra and not wrong, (
        f"{len(missing)} missing, {len(extra)} unexpected, {len(wrong)} with other values "
        f"(e.g. {wrong[:1] and (wrong[0], actual[wrong[0]], expected[wrong[0]])})"
    )


async def read_dead_letters(bootstrap: str, topic: str, expected: int, timeout: float = 30) -> list[DeadLetter]:
    """Read the per-test DLQ topic from the start until ``expected`` dead letters came (or the timeout)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    found: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + timeout
        while len(found) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                found.extend(DLQ.deserialize(r.value or b"") for r in records)
        # Anything beyond the expected ones would be a bug too: give it a moment to show up.
        batches = await consumer.getmany(timeout_ms=1000)
        for records in batches.values():
            found.extend(DLQ.deserialize(r.value or b"") for r in records)
    finally:
        await consumer.stop()
    return found
