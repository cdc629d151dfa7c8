"""The poller under stress: stopped or killed in the middle of an object, S3 going away and coming back,
two instances at once, and an object far bigger than its memory budget."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from conftest import MotoServer, Pollers
from meterflow_harness.kafka import topic_partitions
from meterflow_harness.metrics import metric_value
from meterflow_harness.pipeline import Topics
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import wait_until
from poller_runs import (
    GeneratedDocument,
    checkpoint_log,
    covered_indices,
    document,
    latest_checkpoints,
    raw_batches,
    raw_positions,
    wait_exit_measuring,
)

pytestmark = pytest.mark.integration

# Big enough to take a few seconds to publish in small chunks, small enough to upload in a moment.
MEDIUM_RECORDS = 120_000
SMALL_CHUNKS = "400"  # records per raw message


def upload_streaming(s3: Any, bucket: str, key: str, records: int, part_size: int = 16 * 1024 * 1024) -> int:
    """Multipart upload of a generated document, one part in memory at a time; returns its size."""
    source = GeneratedDocument(records)
    reader = io.BufferedReader(source)  # read(n) fills whole parts: S3 wants every part but the last >= 5 MiB
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)
    parts: list[dict[str, Any]] = []
    while part := reader.read(part_size):
        number = len(parts) + 1
        response = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number, Body=part)
        parts.append({"PartNumber": number, "ETag": response["ETag"]})
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts})
    return source.size


def scrape(process: ServiceProcess, name: str, labels: str = "") -> float:
    try:
        return metric_value(process.metrics(), name, labels)
    except httpx.HTTPError:
        return 0.0


def ready_status(process: ServiceProcess) -> int:
    try:
        return httpx.get(f"{process.ops_url}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def request_poll(process: ServiceProcess) -> int:
    return httpx.post(f"{process.ops_url}/poll", timeout=5).status_code


def wait_for_messages(process: ServiceProcess, at_least: int, timeout: float = 60) -> None:
    def published() -> bool:
        process.assert_running()
        return scrape(process, "meterflow_poller_published_messages_total") >= at_least

    wait_until(published, timeout, f"{at_least} raw messages from {process.name}", interval=0.05)


async def test_sigterm_in_the_middle_of_an_object_writes_no_checkpoint(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    upload_streaming(s3, bucket, "big.json", MEDIUM_RECORDS)
    poller = pollers.start(POLLER_CHUNK_MAX_RECORDS=SMALL_CHUNKS)
    wait_for_messages(poller, 3)

    started = time.monotonic()
    assert poller.process is not None
    poller.process.send_signal(signal.SIGTERM)
    code = poller.wait_exit(30)

    assert code == 0, poller.tail()
    assert time.monotonic() - started < 10, "SIGTERM should stop the poller within one chunk"
    assert await checkpoint_log(servers.kafka, topics.checkpoints) == []
    published = await raw_batches(servers.kafka, topics.raw)
    assert 0 < len(published) < MEDIUM_RECORDS // int(SMALL_CHUNKS)
    assert "poll interrupted; no partial checkpoint written" in poller.log_path.read_text()


async def test_sigkill_in_the_middle_of_an_object_then_restart_loses_nothing(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    upload_streaming(s3, bucket, "big.json", MEDIUM_RECORDS)
    crashed = pollers.start("--once", POLLER_CHUNK_MAX_RECORDS=SMALL_CHUNKS)
    wait_for_messages(crashed, 3)
    crashed.kill()
    before_restart = await raw_batches(servers.kafka, topics.raw)
    assert 0 < len(before_restart) < MEDIUM_RECORDS // int(SMALL_CHUNKS)
    assert await checkpoint_log(servers.kafka, topics.checkpoints) == []

    # The killed instance still holds leadership until its session times out: the restart waits for it.
    pollers.once(POLLER_CHUNK_MAX_RECORDS=SMALL_CHUNKS)

    batches = await raw_batches(servers.kafka, topics.raw)
    assert covered_indices(batches, "big.json") == set(range(MEDIUM_RECORDS))
    log = await checkpoint_log(servers.kafka, topics.checkpoints)
    assert len(log) == 1
    checkpoint = log[0][1]
    assert checkpoint is not None
    assert checkpoint.records == MEDIUM_RECORDS
    # The restart began the object again from its first chunk: duplicates, never gaps.
    assert Counter(b.source.chunk_index for b in batches)[0] == 2


async def test_s3_outage_makes_the_poller_unready_and_it_recovers_by_itself(
    servers: Servers, topics: Topics, bucket: str, pollers: Pollers, private_s3: MotoServer
) -> None:
    moto = private_s3
    own = moto.client()
    own.create_bucket(Bucket=bucket)
    own.put_object(Bucket=bucket, Key="before.json", Body=document(30))
    poller = pollers.start(S3_ENDPOINT_URL=moto.url, POLLER_INTERVAL_S="1")
    wait_until(lambda: ready_status(poller) == 200, 60, "poller ready")
    first_success = scrape(poller, "meterflow_poller_last_success_timestamp_seconds")
    assert first_success > 0

    moto.kill()
    wait_until(lambda: ready_status(poller) == 503, 60, "poller unready while S3 is down")
    errors = scrape(poller, "meterflow_poller_errors_total", 'kind="s3"')
    assert errors >= 1
    wait_until(lambda: scrape(poller, "meterflow_poller_errors_total", 'kind="s3"') > errors, 30, "more S3 errors")
    poller.assert_running()

    moto.start()  # in-memory: the bucket and its objects must be created again
    own = moto.client()
    own.create_bucket(Bucket=bucket)
    own.put_object(Bucket=bucket, Key="before.json", Body=document(30))  # same bytes, same ETag
    own.put_object(Bucket=bucket, Key="after.json", Body=document(40))

    async def recovered() -> bool:
        checkpoints = await latest_checkpoints(servers.kafka, topics.checkpoints)
        return set(checkpoints) == {f"{bucket}/before.json", f"{bucket}/after.json"}

    await wait_async(recovered, 60, "the poller to publish from the recovered S3")
    wait_until(lambda: ready_status(poller) == 200, 30, "poller ready again")
    batches = await raw_batches(servers.kafka, topics.raw)
    published = Counter(b.source.key for b in batches)
    assert published["after.json"] == 1
    # A poll may list the re-created bucket before its object is back: then the object was deleted as far
    # as S3 could tell, its checkpoint is tombstoned and it comes back as new. Otherwise it is skipped.
    assert published["before.json"] in (1, 2)
    assert scrape(poller, "meterflow_poller_last_success_timestamp_seconds") > first_success
    assert scrape(poller, "meterflow_poller_ready") == 1


async def test_two_pollers_elect_one_leader_and_publish_each_object_once(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    # The object in progress when the second instance joins: large enough to outlast its start-up.
    upload_streaming(s3, bucket, "a-large.json", 300_000)
    for key in ("b-small.json", "c-small.json"):
        s3.put_object(Bucket=bucket, Key=key, Body=document(700))
    first = pollers.start(name="first")
    wait_for_messages(first, 3)
    second = pollers.start(name="second")

    async def all_checkpointed() -> bool:
        return len(await latest_checkpoints(servers.kafka, topics.checkpoints)) == 3

    await wait_async(all_checkpointed, 120, "checkpoints of every object")
    checkpoints = await latest_checkpoints(servers.kafka, topics.checkpoints)
    chunks = {key.removeprefix(f"{bucket}/"): checkpoint.chunks for key, checkpoint in checkpoints.items()}
    assert chunks["a-large.json"] > 50
    wait_until(lambda: ready_status(second) == 200, 30, "the second instance to join as a standby")
    # The join rebalanced the group, usually in the middle of the large object (on a loaded machine the
    # second instance may start only after the poll); the sticky assignor left the partition with the
    # first instance, which went on instead of starting over: every chunk below was published once.
    events = [e["event"] for e in log_events(first.log_path.read_text())]
    assert "leadership kept across a rebalance" in events
    assert (scrape(first, "meterflow_poller_leader"), scrape(second, "meterflow_poller_leader")) == (1, 0)
    assert scrape(second, "meterflow_poller_objects_total", 'outcome="listed"') == 0  # the standby never polls
    assert request_poll(second) == 409
    assert scrape(first, "meterflow_poller_published_records_total") == 300_000 + 2 * 700
    assert scrape(first, "meterflow_poller_objects_total", 'outcome="new"') == 3
    assert scrape(first, "meterflow_poller_poll_duration_seconds_count") == 1
    await assert_each_chunk_once(servers, topics, chunks)

    # The leader goes away: the standby takes over at once, finds every object checkpointed, skips it.
    assert first.stop() == 0
    wait_until(lambda: scrape(second, "meterflow_poller_leader") == 1, 30, "the standby to take over")
    wait_until(
        lambda: scrape(second, "meterflow_poller_objects_total", 'outcome="skipped"') == 3, 30, "the takeover poll"
    )
    s3.put_object(Bucket=bucket, Key="d-new.json", Body=document(100))
    assert request_poll(second) == 202

    async def new_checkpointed() -> bool:
        return f"{bucket}/d-new.json" in await latest_checkpoints(servers.kafka, topics.checkpoints)

    await wait_async(new_checkpointed, 60, "the new object")
    await assert_each_chunk_once(servers, topics, {**chunks, "d-new.json": 1})
    assert len(await checkpoint_log(servers.kafka, topics.checkpoints)) == 4

    # A --once run next to a running leader does not poll beside it: it waits, stays a standby, exits 0.
    s3.put_object(Bucket=bucket, Key="e-later.json", Body=document(10))
    extra = pollers.once(POLLER_LEADER_WAIT_S="3")
    assert "--once leaves the poll to it" in extra.log_path.read_text()
    await assert_each_chunk_once(servers, topics, {**chunks, "d-new.json": 1})
    assert scrape(second, "meterflow_poller_leader") == 1


def log_events(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


async def assert_each_chunk_once(servers: Servers, topics: Topics, chunks_per_key: dict[str, int]) -> None:
    published = Counter((p.key, p.chunk_index) for p in await raw_positions(servers.kafka, topics.raw))
    expected = {(key, i): 1 for key, n in chunks_per_key.items() for i in range(n)}
    assert published == expected


async def wait_async(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.5)


BIG_RECORDS = 1_250_000  # about 215 MB of source JSON
RSS_LIMIT = 250 * 1024 * 1024


async def test_a_200_mb_object_is_streamed_within_250_mb_of_memory(
    servers: Servers, topics: Topics, bucket: str, pollers: Pollers, private_s3: MotoServer
) -> None:
    # On an S3 server of its own: the shared one is spared 200 MB, and the memory goes with the server.
    s3 = private_s3.client()
    s3.create_bucket(Bucket=bucket)
    started = time.monotonic()
    size = upload_streaming(s3, bucket, "huge.json", BIG_RECORDS)
    uploaded = time.monotonic()
    assert size >= 200 * 1024 * 1024

    poller = pollers.start("--once", S3_ENDPOINT_URL=private_s3.url)
    assert poller.process is not None
    code, peak_rss = wait_exit_measuring(poller.process, timeout=300)
    polled = time.monotonic()

    assert code == 0, poller.tail()
    checkpoint = (await latest_checkpoints(servers.kafka, topics.checkpoints))[f"{bucket}/huge.json"]
    assert (checkpoint.size, checkpoint.records) == (size, BIG_RECORDS)
    assert await message_count(servers.kafka, topics.raw) == checkpoint.chunks
    print(  # the numbers the issue asks to record
        f"\n200 MB object: {size / 2**20:.0f} MiB, {checkpoint.chunks} messages; upload {uploaded - started:.1f} s, "
        f"poll {polled - uploaded:.1f} s, poller peak RSS {peak_rss / 2**20:.1f} MiB"
    )
    summary = [json.loads(line) for line in poller.log_path.read_text().splitlines() if '"poller stopped"' in line]
    assert summary and summary[-1]["peak_rss_mb"] * 1024 * 1024 < RSS_LIMIT
    assert peak_rss < RSS_LIMIT, f"peak RSS {peak_rss / 2**20:.1f} MiB"


async def message_count(kafka: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(await topic_partitions(consumer, topic))
        return sum(ends.values())
    finally:
        await consumer.stop()
