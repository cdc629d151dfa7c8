"""Topic administration: create the declared topics on a broker (idempotent).

The CLI's ``meterflow topics create``, the test session and the benchmarks all call :func:`create_topics`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from meterflow_contracts.topics import TopicSpec


async def create_topics(bootstrap: str, specs: Iterable[TopicSpec[Any]], suffix: str = "") -> list[str]:
    """Create the topics of ``specs`` that are missing (``suffix`` appended to every name, for test
    isolation); returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [new_topic(spec, suffix) for spec in specs if spec.name + suffix not in existing]
        if missing:
            # Another process may create them first: that is the state we want.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


def new_topic(spec: TopicSpec[Any], suffix: str = "") -> NewTopic:
    return NewTopic(
        name=spec.name + suffix, num_partitions=spec.partitions, replication_factor=1, topic_configs=spec.config()
    )
