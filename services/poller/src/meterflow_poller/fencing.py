"""The leader's generation: a fencing token for raw messages and checkpoints.

Each time an instance takes leadership it reads the current generation from the compacted checkpoint topic
(reserved key ``leader-generation:<election group>``; checkpoint keys are ``bucket/key`` and always hold a
``/``, so the two never meet) and writes it back increased by one. Raw messages and checkpoints then carry
it, and the normalizer refuses a raw batch of an older generation than one it saw for the same object
(services/normalizer fencing.py): a stalled old leader that wakes up after its successor took over cannot
overwrite the successor's work, and the poller ignores a checkpoint of an older generation than the one
recorded before it (domain.apply_checkpoint_record), so such a leader cannot mark an object done either.
The election's own consumer-group generation is not used: aiokafka does not expose it, and the broker
forgets a group (and restarts its count) once every member has left.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable

import orjson
from aiokafka import AIOKafkaConsumer
from meterflow_kit.consumer import partitions_of
from meterflow_kit.settings import KafkaSettings

from meterflow_poller.domain import generation_key, parse_generation
from meterflow_poller.errors import KafkaStateError
from meterflow_poller.kafka import behind_end, missing_topic


async def current_generation(kafka: KafkaSettings, topic: str, group_id: str, timeout_s: float = 120.0) -> int:
    """The last generation written for ``group_id`` (0 when none was)."""
    tps = await partitions_of(kafka, [topic])
    if not tps:
        raise missing_topic(topic)
    wanted = generation_key(group_id)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        client_id=f"meterflow-poller-generation-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        generation = 0
        deadline = time.monotonic() + timeout_s
        while await behind_end(consumer, end):
            if time.monotonic() > deadline:
                raise KafkaStateError(f"reading topic {topic!r} for the leader generation took over {timeout_s:.0f} s")
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for record in records:
                    if record.key == wanted:
                        generation = parse_generation(record.value)
        return generation
    finally:
        await consumer.stop()


Send = Callable[[str, bytes, bytes], Awaitable[None]]
"""Sends (topic, key, value) and returns once the broker acknowledged it."""


async def take_generation(kafka: KafkaSettings, topic: str, group_id: str, send: Send) -> int:
    """Take the next generation for ``group_id``: call once leadership is gained, before publishing."""
    generation = await current_generation(kafka, topic, group_id) + 1
    value = orjson.dumps({"group": group_id, "generation": generation, "taken_at": time.time()})
    await send(topic, generation_key(group_id), value)
    return generation
