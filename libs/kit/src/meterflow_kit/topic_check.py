"""The start-up check of a service's topics: one clear warning (and a metric) per topic that keeps data
less safely than configured (``kafka.topics``: replication factor, min.insync.replicas, retention,
message size limit). A weaker topic does not stop the service: the operator decides; the warning says
what to change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from meterflow_contracts import TopicSpec
from meterflow_contracts.admin import weaker_topics
from prometheus_client import Gauge

from meterflow_kit.settings import KafkaSettings

log = structlog.get_logger("meterflow.kit.topics")

WEAK_TOPICS = Gauge(
    "meterflow_topic_weaker_than_configured",
    "1 for a topic that keeps data less safely than configured (replication, min ISR, retention), as "
    "found at start-up; 0 when it was checked and found as configured.",
    ["topic"],
)


async def check_topics(kafka: KafkaSettings, topics: Mapping[str, TopicSpec[Any]]) -> dict[str, list[str]]:
    """Compare ``topics`` (name -> declaration) with ``kafka.topics``; warn once per weaker topic and
    return what is weaker. A broker that does not answer is reported and skipped (the service's own
    start-up then fails on it, with its own message)."""
    try:
        found = await weaker_topics(kafka.bootstrap_servers, topics, kafka.topics, kafka.client_options())
    except Exception as error:  # a best-effort check never stops a service (Kafka down, an odd reply)
        log.warning("could not check the topics' durability", error=str(error) or repr(error))
        return {}
    for name in topics:
        WEAK_TOPICS.labels(topic=name).set(1.0 if name in found else 0.0)
    for name, problems in found.items():
        log.warning(
            "topic keeps data less safely than configured",
            topic=name,
            weaker=problems,
            hint="alter the topic (kafka-configs.sh --alter, kafka-reassign-partitions.sh for replicas) or "
            "set KAFKA_TOPIC_* to what this cluster can give",
        )
    return found
