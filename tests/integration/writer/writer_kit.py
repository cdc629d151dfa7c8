"""Helpers of the writer's integration and reliability tests: synthetic reading batches, producing them to a
per-test topic, running the writer as its real console script, and checking the table against the source.

Imported as ``integration.writer.writer_kit`` (tests/ is on sys.path through tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from meterflow_contracts import DLQ, READINGS, DeadLetter, ReadingBatch, SourcePosition
from meterflow_obis import decode
from support import BIN, ServiceProcess, free_port, metric_value, service_env
from support import count_rows as count_rows  # re-exported for the writer tests

Key = tuple[uuid.UUID, str, datetime]
START = datetime(2023, 2, 1, tzinfo=UTC)
OBIS = ("1-0:1.29.0*255", "1-0:2.29.0*255")
OBIS_HEX = {"1-0:1.29.0*255": "0100011D00FF", "1-0:2.29.0*255": "0100021D00FF"}
NAMESPACE = uuid.UUID("6d657465-7266-6c6f-7700-000000000000")


def meter(index: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"meter-{index}")


def reading_batch(
    muid: uuid.UUID,
    obis: str,
    start: datetime,
    values: Sequence[float],
    *,
    quality: str | Sequence[str] = "measured",
    key: str = "meters/object.json",
    etag: str = "etag-1",
    chunk: int = 0,
) -> ReadingBatch:
    """One meter.readings.v1 message: ``values`` at 15-minute steps from ``start``, described as the normalizer
    describes the channel."""
    info = decode(obis)
    qualities = [quality] * len(values) if isinstance(quality, str) else list(quality)
    readings = [
        (start + timedelta(minutes=15 * i), v, q) for i, (v, q) in enumerate(zip(values, qualities, strict=True))
    ]
    return ReadingBatch(
        muid=muid,
        obis=obis,
        obis_hex=OBIS_HEX.get(obis, "0100011D00FF"),
        quantity=info.quantity,
        direction=info.direction,
        unit=info.unit,
        measurement="energy",
        interval_s=900 if len(values) > 1 else None,
        readings=readings,
        source=SourcePosition(
            bucket="meterflow-raw", key=key, etag=etag, chunk_index=chunk, record_start=0, record_end=len(values)
        ),
    )


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


def total_readings(batches: Iterable[ReadingBatch]) -> int:
    return sum(len(b.readings) for b in batches)


async def produce(bootstrap: str, topic: str, messages: Iterable[ReadingBatch | tuple[bytes, bytes]]) -> int:
    """Send each batch keyed by its muid (as the normalizer does); raw (key, value) pairs as they are."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    await producer.start()
    sent = 0
    try:
        futures = []
        for message in messages:
            if isinstance(message, ReadingBatch):
                key, value = READINGS.serialize(message)
            else:
                key, value = message
            futures.append(await producer.send(topic, value, key=key))
            sent += 1
        await producer.flush()
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return sent


def start_writer(
    kafka: str, readings_topic: str, dlq_topic: str, dsn: str, log_dir: Path, name: str = "writer", **env: str
) -> ServiceProcess:
    """The writer's console script on this test's topics and database (cf. Pipeline.start_writer)."""
    port = free_port()
    overrides = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATABASE_URL": dsn,
        "LOG_LEVEL": "INFO",
        "WRITER_GROUP_ID": f"writer-{readings_topic}",
        "WRITER_READINGS_TOPIC": readings_topic,
        "WRITER_DLQ_TOPIC": dlq_topic,
        "WRITER_OPS_PORT": str(port),
        "WRITER_BATCH_MAX_S": "0.2",
        # The broker's minimum: a SIGKILLed writer's partitions move after 6 s, not 10.
        "WRITER_KAFKA__SESSION_TIMEOUT_S": "6",
        **env,
    }
    return ServiceProcess(
        name,
        [str(BIN / "meterflow-writer")],
        service_env(overrides),
        log_dir / f"{name}.log",
        ops_url=f"http://127.0.0.1:{port}",
    ).start()


WriterFactory = Callable[..., ServiceProcess]


@pytest.fixture
def writers(servers: Any, topics: Any, database: str, log_dir: Path) -> Iterator[WriterFactory]:
    """Start writer processes (``writers(name="a", WRITER_...="...")``); all are stopped after the test."""
    started: list[ServiceProcess] = []

    def factory(name: str = "writer", **env: str) -> ServiceProcess:
        process = start_writer(servers.kafka, topics.readings, topics.dlq, database, log_dir, name=name, **env)
        started.append(process)
        return process

    yield factory
    unclean = []
    for process in started:  # stop every one of them before failing for any
        if process.process is not None and process.process.poll() is not None:
            continue  # the test killed it, or it died and the test said so
        if process.stop(timeout=20) != 0:
            unclean.append(f"{process.name} did not stop cleanly:\n{process.tail()}")
    if unclean:
        pytest.fail("\n".join(unclean))


def metric(writer: ServiceProcess, name: str, labels: str = "") -> float:
    return metric_value(writer.metrics(), name, labels)


def readiness(writer: ServiceProcess) -> int:
    """HTTP status of /readyz (0 when it does not answer)."""
    try:
        return httpx.get(f"{writer.ops_url}/readyz", timeout=3).status_code
    except httpx.HTTPError:
        return 0


async def eventually(
    check: Callable[[], Awaitable[bool]],
    timeout: float,
    what: str,
    *,
    interval: float = 0.25,
    alive: Sequence[ServiceProcess] = (),
) -> None:
    """Poll an async ``check`` until it is true; fail early when a process in ``alive`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in alive:
            process.assert_running()
        try:
            if await check():
                return
        except httpx.HTTPError:
            pass  # the ops endpoint is not up yet
        await asyncio.sleep(interval)
    tails = "\n".join(f"--- {p.name}:\n{p.tail()}" for p in alive)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{tails}")


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


class GroupProbe:
    """How far a consumer group's committed offsets are behind the end of a topic."""

    def __init__(self, bootstrap: str, group: str, topic: str) -> None:
        self._group = group
        self._topic = topic
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self._partitions: list[TopicPartition] = []

    async def __aenter__(self) -> GroupProbe:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def behind(self) -> int:
        if not self._partitions:
            (described,) = await self._admin.describe_topics([self._topic])
            self._partitions = [TopicPartition(self._topic, p["partition"]) for p in described["partitions"]]
        assert self._partitions, f"topic {self._topic} has no partitions"
        tps = self._partitions
        ends = await self._consumer.end_offsets(tps)
        committed = await self._admin.list_consumer_group_offsets(self._group, partitions=tps)
        total = 0
        for tp in tps:
            done = committed.get(tp)
            total += ends[tp] - (done.offset if done is not None and done.offset >= 0 else 0)
        return total

    async def caught_up(self) -> bool:
        return await self.behind() == 0


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


def as_json(batch: ReadingBatch) -> Any:
    return batch.model_dump(mode="json")
