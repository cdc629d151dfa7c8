"""The poller consuming S3 event notifications from SQS (moto's server implements both): objects are
published as S3 announces them, without a listing; redelivered and duplicate notifications are idempotent;
instances share the queue; the elected listing still catches an object whose notification was lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Pollers
from meterflow_harness.metrics import metric_value
from meterflow_harness.names import unique
from meterflow_harness.pipeline import Topics
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import eventually
from poller_runs import document, latest_checkpoints, raw_positions

pytestmark = pytest.mark.integration


@pytest.fixture
def queue(servers: Servers, s3: Any, bucket: str) -> Iterator[str]:
    """An SQS queue of this test's own that the test bucket notifies of created and removed objects."""
    sqs = servers.sqs_client()
    url: str = sqs.create_queue(QueueName=unique("mf-notify-"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
        },
    )
    yield url
    sqs.delete_queue(QueueUrl=url)


def start_consumer(pollers: Pollers, queue: str, **overrides: str) -> ServiceProcess:
    """A poller consuming ``queue``; its elected listing runs at start and then only hourly."""
    return pollers.start(
        POLLER_NOTIFICATION_QUEUE_URL=queue,
        POLLER_NOTIFICATION_WAIT_S="1",
        POLLER_NOTIFICATION_VISIBILITY_S="5",
        **overrides,
    )


def notified(process: ServiceProcess, outcome: str) -> float:
    return metric_value(process.metrics(), "meterflow_poller_notifications_total", f'outcome="{outcome}"')


async def listing_done(process: ServiceProcess) -> None:
    async def polled() -> bool:
        return metric_value(process.metrics(), "meterflow_poller_last_success_timestamp_seconds") > 0

    await eventually(polled, 60, "the first listing poll", alive=[process])


async def checkpointed(
    servers: Servers, topics: Topics, bucket: str, keys: set[str], alive: list[ServiceProcess]
) -> None:
    async def all_there() -> bool:
        latest = await latest_checkpoints(servers.kafka, topics.checkpoints)
        return {f"{bucket}/{k}" for k in keys} <= set(latest)

    await eventually(all_there, 60, f"checkpoints of {sorted(keys)}", interval=0.5, alive=alive)


async def test_objects_are_published_as_announced_and_removals_tombstone_their_checkpoint(
    servers: Servers, topics: Topics, s3: Any, bucket: str, queue: str, pollers: Pollers
) -> None:
    poller = start_consumer(pollers, queue)
    await listing_done(poller)  # the bucket is empty: from here on only notifications can publish
    listed = metric_value(poller.metrics(), "meterflow_poller_objects_total", 'outcome="listed"')
    for name in ("a.json", "b/c d.json", "e.json"):
        s3.put_object(Bucket=bucket, Key=name, Body=document(50))
    await checkpointed(servers, topics, bucket, {"a.json", "b/c d.json", "e.json"}, [poller])
    assert metric_value(poller.metrics(), "meterflow_poller_objects_total", 'outcome="listed"') == listed

    s3.put_object(Bucket=bucket, Key="a.json", Body=document(60))  # a new version
    s3.delete_object(Bucket=bucket, Key="e.json")
    new_etag = s3.head_object(Bucket=bucket, Key="a.json")["ETag"].strip('"')

    async def settled() -> bool:
        latest = await latest_checkpoints(servers.kafka, topics.checkpoints)
        return (
            latest.get(f"{bucket}/a.json") is not None
            and latest[f"{bucket}/a.json"].etag == new_etag
            and (f"{bucket}/e.json" not in latest)
        )

    await eventually(settled, 60, "the new version checkpointed and the removal tombstoned", alive=[poller])
    positions = await raw_positions(servers.kafka, topics.raw)
    assert new_etag in {p.etag for p in positions if p.key == "a.json"}
    assert {p.key for p in positions} == {"a.json", "b/c d.json", "e.json"}
    assert all(p.generation is None for p in positions)  # no election orders notification publishing
    assert notified(poller, "removed") == 1


async def test_a_duplicate_notification_publishes_nothing_twice(
    servers: Servers, topics: Topics, s3: Any, bucket: str, queue: str, pollers: Pollers
) -> None:
    poller = start_consumer(pollers, queue)
    await listing_done(poller)
    s3.put_object(Bucket=bucket, Key="once.json", Body=document(20))
    await checkpointed(servers, topics, bucket, {"once.json"}, [poller])
    messages = len(await raw_positions(servers.kafka, topics.raw))

    # SQS delivers at least once: the same notification again, and a message that is no notification.
    etag = s3.head_object(Bucket=bucket, Key="once.json")["ETag"].strip('"')
    record = {
        "eventTime": "2026-11-30T07:27:19.064Z",
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": bucket}, "object": {"key": "once.json", "size": 1, "eTag": etag}},
    }
    sqs = servers.sqs_client()
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps({"Records": [record]}))
    sqs.send_message(QueueUrl=queue, MessageBody="hello")

    async def both_handled() -> bool:
        return notified(poller, "skipped") >= 1 and notified(poller, "invalid") == 1

    await eventually(both_handled, 30, "the duplicate skipped and the stray message dropped", alive=[poller])
    assert len(await raw_positions(servers.kafka, topics.raw)) == messages
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"  # handled messages are deleted


async def test_two_instances_share_the_queue_and_publish_every_object(
    servers: Servers, topics: Topics, s3: Any, bucket: str, queue: str, pollers: Pollers
) -> None:
    first, second = start_consumer(pollers, queue), start_consumer(pollers, queue, name="poller-b")
    keys = {f"fleet/m{i:03d}.json" for i in range(40)}
    for key in sorted(keys):
        s3.put_object(Bucket=bucket, Key=key, Body=document(10))
    await checkpointed(servers, topics, bucket, keys, [first, second])
    published = notified(first, "published") + notified(second, "published")
    listed_new = sum(
        metric_value(p.metrics(), "meterflow_poller_objects_total", 'outcome="new"') for p in (first, second)
    )
    assert published + listed_new >= len(keys)
    assert {p.key for p in await raw_positions(servers.kafka, topics.raw)} == keys


async def test_the_listing_publishes_an_object_whose_notification_was_lost(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    # The object lands before the bucket notifies anyone: no notification will ever name it.
    s3.put_object(Bucket=bucket, Key="lost.json", Body=document(10))
    sqs = servers.sqs_client()
    url = sqs.create_queue(QueueName=unique("mf-notify-"))["QueueUrl"]
    try:
        poller = start_consumer(pollers, url, POLLER_INTERVAL_S="2")
        await checkpointed(servers, topics, bucket, {"lost.json"}, [poller])
        assert notified(poller, "published") == 0
        assert metric_value(poller.metrics(), "meterflow_poller_objects_total", 'outcome="new"') == 1
    finally:
        sqs.delete_queue(QueueUrl=url)
