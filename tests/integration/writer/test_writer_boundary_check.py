"""The writer's boundary check against the real writer (issue 12, item 6): each rule's bad readings go to the
DLQ with stage=writer and their reason, the rest of the message is written, and NaN never reaches the
plain-PostgreSQL hourly rollup. Messages are produced as raw JSON, as a producer that skips the normalizer
could: NaN and Infinity literals included; in both readings contracts (v1 triples, v2 columns)."""

from __future__ import annotations

import json
import math
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from integration.writer.writer_processes import metric
from meterflow_contracts import DlqReason, ReadingBatch
from meterflow_contracts.columnar import micros_of, to_columns
from meterflow_harness.kafka import GroupProbe
from meterflow_harness.messages import reading_batch
from meterflow_harness.waiting import eventually
from readings_io import START, assert_table_equals, produce_readings, read_dead_letters

pytestmark = pytest.mark.integration

ENERGY = "1-0:1.29.0*255"
POWER = "1-0:1.7.0*255"


def meter(n: int) -> uuid.UUID:
    return uuid.UUID(f"7a11d000-0000-4000-8000-{n:012d}")


def raw_message(batch: ReadingBatch, replace: dict[int, tuple[str | None, Any]], obis: str | None = None) -> bytes:
    """``batch`` as JSON with readings replaced ({index: (ts text or None to keep, value)}); Python's json
    writes NaN and Infinity literals, which the contract's parser reads as floats."""
    document = batch.model_dump(mode="json")
    for index, (ts, value) in replace.items():
        reading = document["readings"][index]
        document["readings"][index] = [ts or reading[0], value, reading[2]]
    if obis is not None:
        document["obis"] = obis
    return json.dumps(document).encode()


def raw_message_v2(batch: ReadingBatch, replace: dict[int, tuple[str | None, Any]], obis: str | None = None) -> bytes:
    """The same as ``raw_message``, as a meter.readings.v2 message (columns)."""
    document = to_columns(batch).model_dump(mode="json")
    for index, (ts, value) in replace.items():
        if ts is not None:
            document["ts_us"][index] = micros_of(datetime.fromisoformat(ts))
        document["values"][index] = value
    if obis is not None:
        document["obis"] = obis
    return json.dumps(document).encode()


def key_of(batch: ReadingBatch) -> bytes:
    return str(batch.muid).encode()


def ts_text(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("contract", ["v1", "v2"])
async def test_every_rule_rejects_only_its_readings(
    servers: Any, topics: Any, database: str, writers: Any, contract: str
) -> None:
    encode = raw_message if contract == "v1" else raw_message_v2
    n = 8
    cases: list[tuple[ReadingBatch, dict[int, tuple[str | None, Any]], str | None, DlqReason | None]] = []

    def case(
        number: int, replace: dict[int, tuple[str | None, Any]], reason: DlqReason | None, obis: str = ENERGY
    ) -> None:
        batch = reading_batch(meter(number), obis, START, [float(i + 1) for i in range(n)], key=f"m/{number}.json")
        cases.append((batch, replace, None, reason))

    case(0, {1: (None, math.nan)}, DlqReason.NON_FINITE_VALUE)
    case(1, {2: (None, math.inf), 3: (None, -math.inf)}, DlqReason.NON_FINITE_VALUE)
    case(2, {4: (None, -1.5)}, DlqReason.NEGATIVE_ENERGY)
    case(3, {0: ("1900-01-01T00:00:00Z", 1.0)}, DlqReason.TIMESTAMP_OUT_OF_RANGE)
    case(4, {7: ("2200-01-01T00:00:00Z", 1.0)}, DlqReason.TIMESTAMP_OUT_OF_RANGE)
    case(5, {5: (ts_text(START + timedelta(minutes=15 * 5 + 1)), 1.0)}, DlqReason.OFF_GRID_TIMESTAMP)
    case(6, {5: (ts_text(START + timedelta(minutes=15 * 5 + 1)), -3.0)}, None, obis=POWER)  # no grid, may be < 0
    invalid_obis = reading_batch(meter(7), ENERGY, START, [1.0] * n, key="m/7.json")

    messages = [(key_of(b), encode(b, replace)) for b, replace, _, _ in cases]
    messages.append((key_of(invalid_obis), encode(invalid_obis, {}, obis="255-255:255.255.255*255")))
    await produce_readings(servers.kafka, topics.readings, messages)
    writer = writers()
    async with GroupProbe(servers.kafka, f"writer-{topics.readings}", topics.readings) as probe:
        await eventually(probe.caught_up, 60, "the writer to commit everything", alive=[writer])

    expected: dict[Any, tuple[float, str]] = {}
    for batch, replace, _, reason in cases:
        for index, (ts, value, quality) in enumerate(batch.readings):
            if index not in replace:
                expected[(batch.muid, batch.obis, ts)] = (value, quality)
            elif reason is None:
                new_ts = datetime.fromisoformat(replace[index][0] or ts_text(ts))
                expected[(batch.muid, batch.obis, new_ts)] = (replace[index][1], quality)
    await assert_table_equals(database, expected)

    dead = await read_dead_letters(servers.kafka, topics.dlq, expected=7)
    got = sorted((d.reason.value, d.record["muid"], len(d.record["readings"])) for d in dead)
    want = sorted(
        [(reason.value, str(b.muid), len(replace)) for b, replace, _, reason in cases if reason is not None]
        + [(DlqReason.INVALID_OBIS.value, str(invalid_obis.muid), n)]
    )
    assert got == want
    assert all(d.stage == "writer" and d.source is not None for d in dead)
    assert metric(writer, "meterflow_writer_dlq_rows_total") == sum(w[2] for w in want)
    assert metric(writer, "meterflow_writer_dlq_records_total", 'reason="non_finite_value"') == 2

    conn = await asyncpg.connect(database)
    try:
        assert await conn.fetchval("SELECT count(*) FROM readings WHERE value = 'NaN' OR abs(value) = 'Infinity'") == 0
        rollup_kind = await conn.fetchval("SELECT relkind FROM pg_class WHERE relname = 'readings_hourly'")
        if rollup_kind == "r":  # plain PostgreSQL: the trigger-kept table
            assert await conn.fetchval("SELECT count(*) FROM readings_hourly WHERE total = 'NaN'") == 0
    finally:
        await conn.close()
