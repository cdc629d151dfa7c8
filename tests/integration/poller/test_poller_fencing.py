"""The poller's leader generation and source version on a real broker and moto S3: each leadership takes the
next generation from the checkpoint topic, and raw messages and checkpoints carry it, with the object's
LastModified (the readings' version)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Pollers
from meterflow_contracts import CHECKPOINTS
from meterflow_harness.kafka import produce
from meterflow_harness.pipeline import Topics
from meterflow_harness.servers import Servers
from meterflow_kit.settings import KafkaSettings
from meterflow_poller.domain import ObjectInfo, completed_checkpoint
from meterflow_poller.fencing import current_generation, take_generation
from meterflow_poller.kafka import load_checkpoints
from poller_runs import document, latest_checkpoints, raw_batches

pytestmark = pytest.mark.integration


async def test_generations_increase_and_are_carried_with_the_version(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    s3.put_object(Bucket=bucket, Key="a.json", Body=document(10))
    modified = s3.head_object(Bucket=bucket, Key="a.json")["LastModified"]
    pollers.once()
    first = await raw_batches(servers.kafka, topics.raw)
    assert [(b.source.generation, b.source.last_modified) for b in first] == [(1, modified)]

    s3.put_object(Bucket=bucket, Key="a.json", Body=document(20))  # changed: published again, by a new leader
    pollers.once()
    batches = await raw_batches(servers.kafka, topics.raw)
    assert [b.source.generation for b in batches] == [1, 2]
    assert batches[1].source.last_modified == s3.head_object(Bucket=bucket, Key="a.json")["LastModified"]
    assert (await latest_checkpoints(servers.kafka, topics.checkpoints))[f"{bucket}/a.json"].generation == 2


async def test_take_generation_counts_per_group(servers: Servers, topics: Topics) -> None:
    kafka = KafkaSettings(bootstrap_servers=servers.kafka)
    sent: list[tuple[str, bytes, bytes]] = []

    async def send(topic: str, key: bytes, value: bytes) -> None:
        sent.append((topic, key, value))
        await produce(servers.kafka, topic, [(key, value)])

    assert await current_generation(kafka, topics.checkpoints, "group-a") == 0
    assert await take_generation(kafka, topics.checkpoints, "group-a", send) == 1
    assert await take_generation(kafka, topics.checkpoints, "group-a", send) == 2
    assert await take_generation(kafka, topics.checkpoints, "group-b", send) == 1
    assert await current_generation(kafka, topics.checkpoints, "group-a") == 2
    assert len(sent) == 3


async def test_a_stalled_leaders_checkpoint_after_its_successor_took_over_is_ignored(
    servers: Servers, topics: Topics, bucket: str
) -> None:
    kafka = KafkaSettings(bootstrap_servers=servers.kafka)

    async def send(topic: str, key: bytes, value: bytes) -> None:
        await produce(servers.kafka, topic, [(key, value)])

    def checkpoint(name: str, generation: int) -> tuple[bytes, bytes]:
        done = completed_checkpoint(bucket, ObjectInfo(name, f"etag-{name}", 10), 1, 1, generation=generation)
        return CHECKPOINTS.serialize(done)

    assert await take_generation(kafka, topics.checkpoints, "group-a", send) == 1
    await produce(servers.kafka, topics.checkpoints, [checkpoint("early.json", 1)])
    assert await take_generation(kafka, topics.checkpoints, "group-a", send) == 2  # a successor took over
    # The stalled leader of generation 1 wakes up and checkpoints an object; the successor checkpoints one.
    await produce(servers.kafka, topics.checkpoints, [checkpoint("stale.json", 1), checkpoint("fresh.json", 2)])
    loaded = await load_checkpoints(kafka, topics.checkpoints, bucket, "group-a")
    assert loaded == {"early.json": "etag-early.json", "fresh.json": "etag-fresh.json"}
    # Another group's generations do not judge this group's checkpoints.
    assert "stale.json" in await load_checkpoints(kafka, topics.checkpoints, bucket, "group-b")
