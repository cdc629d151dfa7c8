"""A stale poller leader is fenced (issue 12, item 5): the real normalizer refuses a raw batch whose leader
generation is older than one it already saw for the same object, counts it, and does not dead-letter it; an
older generation of another object still passes (it may be legitimate work waiting in a lagging partition)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from meterflow_contracts import RAW, READINGS, RawBatch, SourcePosition
from meterflow_harness.kafka import produce, read_all, read_until
from meterflow_harness.metrics import metric_value
from meterflow_harness.pipeline import Topics
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import wait_until

pytestmark = pytest.mark.integration
START = datetime(2023, 2, 1, tzinfo=UTC)
MODIFIED = datetime(2023, 2, 2, 6, tzinfo=UTC)


def raw_message(key: str, generation: int, muid: str, value: float, chunk: int = 0) -> tuple[bytes, bytes]:
    records = [
        {
            "measurement": "energy",
            "timestamp": (START + timedelta(minutes=15 * i)).isoformat().replace("+00:00", "Z"),
            "tags": {"muid": muid, "quality": "measured"},
            "0100011D00FF": value,
        }
        for i in range(4)
    ]
    source = SourcePosition(
        bucket="b",
        key=key,
        etag="e",
        chunk_index=chunk,
        record_start=chunk * 4,
        record_end=chunk * 4 + 4,
        last_modified=MODIFIED,
        generation=generation,
    )
    return RAW.serialize(RawBatch(source=source, last_chunk=True, records=records, published_at=START))


async def test_a_stale_generation_is_refused(servers: Servers, topics: Topics, normalizer: Any) -> None:
    fenced, other, last = (str(uuid.uuid4()) for _ in range(3))
    await produce(
        servers.kafka,
        topics.raw,
        [
            raw_message("f.json", 2, fenced, 1.0),  # the new leader's publish of f.json
            raw_message("f.json", 1, fenced, 9.0),  # the old leader, stalled, publishes after it: refused
            raw_message("g.json", 1, other, 2.0),  # the old leader's work on another object: kept
            raw_message("f.json", 3, last, 3.0, chunk=1),  # a newer leader again: admitted
        ],
    )
    service = normalizer()
    records = await read_until(servers.kafka, topics.readings, lambda r: len(r) >= 3, timeout=60)

    def stale_counted() -> bool:
        return metric_value(service.metrics(), "meterflow_normalizer_stale_raw_batches_total") == 1

    wait_until(stale_counted, 30, "the stale batch to be counted")
    batches = [READINGS.deserialize(r.value or b"") for r in records]
    assert sorted((str(b.muid), b.readings[0][1]) for b in batches) == sorted(
        [(fenced, 1.0), (other, 2.0), (last, 3.0)]
    )
    assert all(b.source.generation is not None and b.record_indexes is not None for b in batches)
    assert not await read_all(servers.kafka, topics.dlq)
