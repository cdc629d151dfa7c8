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
from collections.abc import Awaitable, Callable

import orjson
from meterflow_kit.settings import KafkaSettings

from meterflow_poller.domain import generation_key, parse_generation
from meterflow_poller.kafka import read_to_end


async def current_generation(kafka: KafkaSettings, topic: str, group_id: str, timeout_s: float = 120.0) -> int:
    """The last generation written for ``group_id`` (0 when none was)."""
    wanted, generation = generation_key(group_id), 0

    def follow(key: bytes | None, value: bytes | None) -> None:
        nonlocal generation
        if key == wanted:
            generation = parse_generation(value)

    await read_to_end(kafka, topic, "leader generation", follow, timeout_s)
    return generation


Send = Callable[[str, bytes, bytes], Awaitable[None]]
"""Sends (topic, key, value) and returns once the broker acknowledged it."""


async def take_generation(kafka: KafkaSettings, topic: str, group_id: str, send: Send) -> int:
    """Take the next generation for ``group_id``: call once leadership is gained, before publishing."""
    generation = await current_generation(kafka, topic, group_id) + 1
    value = orjson.dumps({"group": group_id, "generation": generation, "taken_at": time.time()})
    await send(topic, generation_key(group_id), value)
    return generation
