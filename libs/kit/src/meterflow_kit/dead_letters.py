"""The dead-letter side of consuming: the producer of ``meter.readings.dlq.v1`` and the one dead letter
every stage builds the same way, for a message that is not what its topic declares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from aiokafka import AIOKafkaProducer
from meterflow_contracts import DLQ, DeadLetter, DlqReason, TopicSpec

from meterflow_kit.settings import KafkaSettings
from meterflow_kit.tracing import trace_headers

Stage = Literal["poller", "normalizer", "writer"]

# Evidence is cut so that one dead letter stays far below the topic's message size limit.
MAX_ERROR_CHARS = 2_000
MAX_RECORD_CHARS = 10_000


def invalid_message(stage: Stage, topic: TopicSpec[Any], value: bytes | None, error: str) -> DeadLetter:
    """The dead letter of a message read from ``topic`` that does not decode as that topic's model."""
    return DeadLetter(
        reason=DlqReason.INVALID_MESSAGE,
        message=f"message is not a {topic.name} batch: {error[:MAX_ERROR_CHARS]}",
        stage=stage,
        record=(value or b"").decode("utf-8", "replace")[:MAX_RECORD_CHARS],
        failed_at=datetime.now(UTC),
    )


class DeadLetterProducer:
    """Sends dead letters, acknowledged by all in-sync replicas, through the DLQ topic's codec."""

    def __init__(self, kafka: KafkaSettings, topic: str = DLQ.name) -> None:
        self._topic = topic
        self._producer = AIOKafkaProducer(
            **kafka.client_options(),
            acks="all",
            enable_idempotence=True,
            max_request_size=4 * 1024 * 1024,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, dead: DeadLetter, key: str | bytes | None = None) -> None:
        """Send and wait for the acknowledgement; ``key`` overrides the DLQ's key (the source object). The
        source object's trace goes along as the ``traceparent`` header."""
        key_bytes, value = DLQ.serialize(dead, key)
        await self._producer.send_and_wait(self._topic, value, key=key_bytes, headers=trace_headers(dead.source))
