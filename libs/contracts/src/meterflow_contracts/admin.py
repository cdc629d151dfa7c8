"""Topic administration: create the declared topics on a broker (idempotent), and find the existing
topics that keep data less safely than declared.

The CLI's ``meterflow topics create``, the test session and the benchmarks call :func:`create_topics`;
every service calls :func:`weaker_topics` at start-up (through ``meterflow_kit.topic_check``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from meterflow_contracts.topics import TopicDurability, TopicSpec

# CreateTopics error codes that leave the topic there: none, and TOPIC_ALREADY_EXISTS (a concurrent creator).
_CREATED = {0, TopicAlreadyExistsError.errno}
# Configs where a smaller value keeps less (-1, "none" or "forever", is the largest of all).
_AT_LEAST = ("min.insync.replicas", "retention.ms", "retention.bytes", "max.message.bytes")


class TopicCreationError(RuntimeError):
    """The broker refused to create topics (e.g. a replication factor above its number of brokers)."""

    def __init__(self, refused: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in refused))
        self.refused = refused


async def create_topics(
    bootstrap: str,
    specs: Iterable[TopicSpec[Any]],
    suffix: str = "",
    durability: TopicDurability | None = None,
    client_options: Mapping[str, Any] | None = None,
) -> list[str]:
    """Create the topics of ``specs`` that are missing (``suffix`` appended to every name, for test
    isolation) with ``durability`` (production's defaults when not given); returns the names created.
    ``client_options`` are the admin client's other keyword arguments (SASL/TLS: KafkaSettings.client_options).
    Raises TopicCreationError when the broker refuses any (the response says why, it does not raise)."""
    admin = _admin(bootstrap, client_options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [new_topic(spec, suffix, durability) for spec in specs if spec.name + suffix not in existing]
        if missing:
            # Another process may create them first: that is the state we want.
            with contextlib.suppress(TopicAlreadyExistsError):
                response = await admin.create_topics(missing)
                refused = [(name, message) for name, code, message in response.topic_errors if code not in _CREATED]
                if refused:
                    raise TopicCreationError(refused)
        return [topic.name for topic in missing]
    finally:
        await admin.close()


def _admin(bootstrap: str, client_options: Mapping[str, Any] | None) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**{**(client_options or {}), "bootstrap_servers": bootstrap})


def new_topic(spec: TopicSpec[Any], suffix: str = "", durability: TopicDurability | None = None) -> NewTopic:
    durability = durability or TopicDurability()
    return NewTopic(
        name=spec.name + suffix,
        num_partitions=spec.partitions,
        replication_factor=durability.replication_factor,
        topic_configs=spec.config(durability),
    )


async def weaker_topics(
    bootstrap: str,
    topics: Mapping[str, TopicSpec[Any]],
    durability: TopicDurability,
    client_options: Mapping[str, Any] | None = None,
) -> dict[str, list[str]]:
    """For each topic (name -> its declaration) that exists and keeps data less safely than declared
    with ``durability``: what is weaker, in words. Missing topics are not reported (they fail elsewhere)."""
    admin = _admin(bootstrap, client_options)
    await admin.start()
    try:
        names = list(topics)
        described = await admin.describe_topics(names)
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    finally:
        await admin.close()
    replicas = {t["topic"]: replica_count(t) for t in described if t["error_code"] == 0}
    configs = {
        resource[3]: {entry[0]: entry[1] for entry in resource[4]}
        for response in responses
        for resource in response.resources
        if resource[0] == 0
    }
    found: dict[str, list[str]] = {}
    for name, spec in topics.items():
        if name not in replicas:
            continue
        problems = weaknesses(replicas[name], configs.get(name, {}), spec.config(durability), durability)
        if problems:
            found[name] = problems
    return found


def replica_count(described: Mapping[str, Any]) -> int:
    """The fewest replicas any partition of a described topic has."""
    return min((len(p["replicas"]) for p in described["partitions"]), default=0)


def weaknesses(
    replicas: int, actual: Mapping[str, str | None], declared: Mapping[str, str], durability: TopicDurability
) -> list[str]:
    """What an existing topic keeps less safely than declared (pure: the inputs are what the broker said)."""
    found = []
    if replicas < durability.replication_factor:
        found.append(f"replication factor {replicas} < {durability.replication_factor}")
    for name in _AT_LEAST:
        if name in declared and not _at_least(actual.get(name), declared[name]):
            found.append(f"{name} {actual.get(name)} < {declared[name]}")
    if declared.get("cleanup.policy") == "compact" and "compact" not in str(actual.get("cleanup.policy")):
        found.append(f"cleanup.policy {actual.get('cleanup.policy')} is not compact")
    return found


def _at_least(actual: str | None, declared: str) -> bool:
    try:
        have, want = int(actual or ""), int(declared)
    except ValueError:
        return False
    if want == -1:
        return have == -1
    return have == -1 or have >= want
