"""Kafka adapter of the writer: the readings consumer, a kit GroupConsumer tuned for bounded batches
that wait through a PostgreSQL outage. Dead letters go through meterflow_kit's DeadLetterProducer."""

from __future__ import annotations

from meterflow_kit.consumer import GroupConsumer
from meterflow_kit.settings import KafkaSettings

from meterflow_writer import metrics


def readings_consumer(kafka: KafkaSettings, topic: str, group_id: str) -> GroupConsumer:
    return GroupConsumer(
        kafka,
        topic,
        group_id,
        lag=metrics.CONSUMER_LAG,
        # A batch may wait through a PostgreSQL outage before the next poll.
        max_poll_interval_ms=15 * 60 * 1000,
        # The other members wait this long for our revocation callback (it finishes a write).
        rebalance_timeout_ms=60_000,
        # Bounded prefetch: at most this much raw data waits in memory beside the decoded batches.
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
