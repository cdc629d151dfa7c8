"""Topic durability against the real broker: creation applies the configured replication and retention
(described back from the broker), and the poller's start-up check warns about each weaker topic."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from conftest import Pollers
from meterflow_contracts import ALL_TOPICS, CHECKPOINTS, DLQ, RAW, READINGS, READINGS_V2, TopicDurability
from meterflow_contracts.admin import TopicCreationError, create_topics, weaker_topics
from meterflow_harness.kafka import delete_topics
from meterflow_harness.metrics import metric_value
from meterflow_harness.names import unique
from meterflow_harness.pipeline import Topics
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import wait_until

pytestmark = pytest.mark.integration

WATCHED = ("retention.ms", "retention.bytes", "min.insync.replicas", "max.message.bytes", "cleanup.policy")


async def described(bootstrap: str, names: list[str]) -> dict[str, dict[str, str | None]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    return {
        resource[3]: {entry[0]: entry[1] for entry in resource[4] if entry[0] in WATCHED}
        for response in responses
        for resource in response.resources
    }


async def described_when_known(bootstrap: str, names: list[str], timeout: float = 30) -> dict[str, dict[str, str]]:
    """The configs once the broker describes every new topic: a busy broker may answer for a topic created a
    moment ago with an error and no entries (its metadata not yet propagated), which is not what is tested."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        configs = await described(bootstrap, names)
        if all("retention.ms" in configs.get(name, {}) for name in names):
            return configs
        assert asyncio.get_running_loop().time() < deadline, f"the broker did not describe {names}: {configs}"
        await asyncio.sleep(0.2)


async def test_topics_are_created_with_the_configured_durability(servers: Servers) -> None:
    suffix = unique(".d")
    durability = TopicDurability(replication_factor=1, min_insync_replicas=1, retention_ms=3_600_000)
    names = [t.name + suffix for t in ALL_TOPICS]
    try:
        assert sorted(await create_topics(servers.kafka, ALL_TOPICS, suffix, durability)) == sorted(names)
        configs = await described_when_known(servers.kafka, names)

        for spec in (RAW, READINGS, READINGS_V2):
            assert configs[spec.name + suffix]["retention.ms"] == "3600000"
            assert configs[spec.name + suffix]["retention.bytes"] == "-1"  # by time only: no size cap
        assert configs[DLQ.name + suffix]["retention.ms"] == "-1"  # kept until replayed
        assert configs[CHECKPOINTS.name + suffix]["cleanup.policy"] == "compact"
        for name in names:
            assert configs[name]["min.insync.replicas"] == "1"
            assert configs[name]["max.message.bytes"] == str(RAW.max_message_bytes)
        declared = {t.name + suffix: t for t in ALL_TOPICS}
        assert await weaker_topics(servers.kafka, declared, durability) == {}
        weaker = await weaker_topics(servers.kafka, declared, durability.model_copy(update={"retention_ms": -1}))
        assert set(weaker) == {RAW.name + suffix, READINGS.name + suffix, READINGS_V2.name + suffix}
    finally:
        await delete_topics(servers.kafka, names)


async def test_a_replication_factor_the_cluster_cannot_give_is_an_error_not_a_silent_no_op(servers: Servers) -> None:
    suffix = unique(".d")
    with pytest.raises(TopicCreationError) as refused:
        await create_topics(servers.kafka, [DLQ], suffix)  # production's RF 3 on the one test broker
    assert [name for name, _ in refused.value.refused] == [DLQ.name + suffix]
    assert "replication factor" in str(refused.value)


async def test_the_poller_warns_about_each_topic_weaker_than_configured_and_still_starts(
    topics: Topics, bucket: str, pollers: Pollers
) -> None:
    # The test topics have one replica (the broker is one node); production's settings ask for three.
    poller = pollers.start(KAFKA_TOPIC_REPLICATION_FACTOR="3", KAFKA_TOPIC_MIN_INSYNC_REPLICAS="2").wait_healthy()

    weak = {topics.raw, topics.dlq, topics.checkpoints}
    for name in weak:
        wait_until(
            lambda name=name: (
                metric_value(poller.metrics(), "meterflow_topic_weaker_than_configured", f'topic="{name}"') == 1.0
            ),
            30,
            f"the weak-topic metric of {name}",
        )
    warnings = [
        line
        for line in poller.log_path.read_text().splitlines()
        if "topic keeps data less safely than configured" in line
    ]
    assert len(warnings) == len(weak)
    for name in weak:
        (line,) = [w for w in warnings if f'"{name}"' in w]
        assert "replication factor 1 < 3" in line
        assert "min.insync.replicas 1 < 2" in line
    poller.assert_running()
