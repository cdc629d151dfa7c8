"""The poller against moto's S3 server and a real broker: what it publishes for new, unchanged, changed,
deleted and malformed objects, and how it reports a bucket that does not exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import MotoServer, Pollers
from meterflow_harness.names import unique
from meterflow_harness.pipeline import Topics
from meterflow_harness.servers import Servers
from poller_runs import (
    START,
    checkpoint_log,
    covered_indices,
    dead_letters,
    document,
    latest_checkpoints,
    raw_batches,
    record,
)

pytestmark = pytest.mark.integration


def etag_of(s3: Any, bucket: str, key: str) -> str:
    etag: str = s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')
    return etag


async def test_new_object_is_published_in_bounded_chunks_then_checkpointed(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    body = document(1_200)
    s3.put_object(Bucket=bucket, Key="2023/02/m1.json", Body=body)

    pollers.once(POLLER_CHUNK_MAX_RECORDS="500")

    batches = await raw_batches(servers.kafka, topics.raw)
    layout = [(b.source.chunk_index, b.source.record_start, b.source.record_end, b.last_chunk) for b in batches]
    assert layout == [(0, 0, 500, False), (1, 500, 1000, False), (2, 1000, 1200, True)]
    etag = etag_of(s3, bucket, "2023/02/m1.json")
    assert {(b.source.bucket, b.source.key, b.source.etag) for b in batches} == {(bucket, "2023/02/m1.json", etag)}
    assert covered_indices(batches, "2023/02/m1.json") == set(range(1_200))
    assert batches[0].records[0] == record(0)  # untouched source records

    checkpoints = await latest_checkpoints(servers.kafka, topics.checkpoints)
    checkpoint = checkpoints[f"{bucket}/2023/02/m1.json"]
    assert (checkpoint.etag, checkpoint.size, checkpoint.records, checkpoint.chunks) == (etag, len(body), 1_200, 3)
    assert checkpoint.completed_at > START


async def test_unchanged_objects_are_skipped_after_a_restart(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    for key in ("a.json", "b/c.json"):
        s3.put_object(Bucket=bucket, Key=key, Body=document(300))

    pollers.once()
    raw_after_first = len(await raw_batches(servers.kafka, topics.raw))
    checkpoints_after_first = len(await checkpoint_log(servers.kafka, topics.checkpoints))
    assert raw_after_first == 2
    assert checkpoints_after_first == 2

    second = pollers.once()  # a new process: everything it knows comes from the checkpoint topic

    assert len(await raw_batches(servers.kafka, topics.raw)) == raw_after_first
    assert len(await checkpoint_log(servers.kafka, topics.checkpoints)) == checkpoints_after_first
    summary = poll_summary(second.log_path.read_text())
    assert (summary["listed"], summary["skipped"], summary["new"], summary["changed"]) == (2, 2, 0, 0)


async def test_a_changed_object_is_published_again_with_its_new_etag(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    s3.put_object(Bucket=bucket, Key="m.json", Body=document(100))
    s3.put_object(Bucket=bucket, Key="other.json", Body=document(10))
    pollers.once()
    old_etag = etag_of(s3, bucket, "m.json")

    s3.put_object(Bucket=bucket, Key="m.json", Body=document(150))  # the vendor re-delivers the month
    new_etag = etag_of(s3, bucket, "m.json")
    assert new_etag != old_etag
    pollers.once()

    batches = await raw_batches(servers.kafka, topics.raw)
    by_etag = [b for b in batches if b.source.key == "m.json" and b.source.etag == new_etag]
    assert covered_indices(by_etag, "m.json") == set(range(150))
    assert [b.source.key for b in batches].count("other.json") == 1  # unchanged: not published again
    checkpoint = (await latest_checkpoints(servers.kafka, topics.checkpoints))[f"{bucket}/m.json"]
    assert (checkpoint.etag, checkpoint.records) == (new_etag, 150)


async def test_a_deleted_object_gets_its_checkpoint_tombstoned(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    s3.put_object(Bucket=bucket, Key="keep.json", Body=document(20))
    s3.put_object(Bucket=bucket, Key="gone.json", Body=document(20))
    pollers.once()
    s3.delete_object(Bucket=bucket, Key="gone.json")

    pollers.once()

    log = await checkpoint_log(servers.kafka, topics.checkpoints)
    assert [key for key, _ in log].count(f"{bucket}/keep.json") == 1
    assert log[-1] == (f"{bucket}/gone.json", None)
    assert len(await raw_batches(servers.kafka, topics.raw)) == 2

    # The tombstone is the end of it: another poll neither crashes nor writes anything for it.
    pollers.once()
    assert len(await checkpoint_log(servers.kafka, topics.checkpoints)) == len(log)


async def test_malformed_objects_give_one_dead_letter_each_and_the_poll_goes_on(
    servers: Servers, topics: Topics, s3: Any, bucket: str, pollers: Pollers
) -> None:
    good_prefix = json.dumps(record(0))
    objects = {
        "1-truncated.json": f'{{"data": [{good_prefix}, {{"timestamp": '.encode(),  # cut off mid-upload
        "2-not-json.json": b"measurement,timestamp\nenergy,2023-02-01\n",
        "3-no-data.json": json.dumps({"readings": [record(0)]}).encode(),
        "4-data-object.json": json.dumps({"data": {"0": record(0)}}).encode(),
        "5-good.json": document(50),
        "6-empty.json": b'{"data": []}',
    }
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)

    pollers.once()

    dead = await dead_letters(servers.kafka, topics.dlq)
    by_key = {d.record["key"]: d for d in dead}
    assert len(dead) == len(by_key) == 4
    expected = {
        "1-truncated.json": "invalid_json",
        "2-not-json.json": "invalid_json",
        "3-no-data.json": "invalid_shape",
        "4-data-object.json": "invalid_shape",
    }
    assert {key: d.reason.value for key, d in by_key.items()} == expected
    for key, letter in by_key.items():
        assert letter.stage == "poller"
        assert key in letter.message
        assert letter.source is not None
        assert (letter.source.bucket, letter.source.key) == (bucket, key)
        assert letter.source.etag == etag_of(s3, bucket, key)
    truncated = by_key["1-truncated.json"]
    assert truncated.source is not None
    assert truncated.record["records_before"] == truncated.source.record_start == 1
    assert "'data'" in by_key["3-no-data.json"].message
    assert "'data' is an object" in by_key["4-data-object.json"].message

    batches = await raw_batches(servers.kafka, topics.raw)
    assert covered_indices(batches, "5-good.json") == set(range(50))
    # The good record before the fault is data too; nothing at all from the other rejected objects.
    assert covered_indices(batches, "1-truncated.json") == {0}
    assert {b.source.key for b in batches} == {"1-truncated.json", "5-good.json"}
    checkpoints = await latest_checkpoints(servers.kafka, topics.checkpoints)
    assert set(checkpoints) == {f"{bucket}/{key}" for key in objects}  # rejected ones are not retried each poll

    pollers.once()
    assert len(await dead_letters(servers.kafka, topics.dlq)) == 4


async def test_a_missing_bucket_is_a_clear_error_and_once_fails(
    servers: Servers, topics: Topics, pollers: Pollers
) -> None:
    missing = unique("mf-missing-")

    process = pollers.once(expect=1, POLLER_BUCKET=missing)

    errors = [line for line in log_events(process.log_path.read_text()) if line.get("event") == "poll failed"]
    assert errors, process.tail()
    message = errors[-1]["error"]
    assert missing in message
    assert "POLLER_BUCKET" in message
    assert "does not exist" in message
    assert errors[-1]["retriable"] is False
    assert len(errors) == 1  # no retries for what only a setting can fix
    assert await raw_batches(servers.kafka, topics.raw) == []


def log_events(text: str) -> list[dict[str, Any]]:
    events = []
    for line in text.splitlines():
        if line.startswith("{"):
            events.append(json.loads(line))
    return events


def poll_summary(text: str) -> dict[str, Any]:
    summaries = [e for e in log_events(text) if e.get("event") == "poll done"]
    assert summaries, text[-2000:]
    return summaries[-1]


async def test_an_object_s3_refuses_to_read_is_skipped_and_published_once_readable(
    servers: Servers, topics: Topics, tmp_path: Path, pollers: Pollers
) -> None:
    # moto checks IAM policies once INITIAL_NO_AUTH_ACTION_COUNT requests have passed unchecked: the setup
    # below makes exactly that many (two users, their policies and keys), everything after is authorized.
    setup_actions = 6
    moto = MotoServer(tmp_path / "moto-iam.log", env={"INITIAL_NO_AUTH_ACTION_COUNT": str(setup_actions)}).start()
    try:
        bucket = unique("mf-iam-")
        iam = moto.client("iam")
        keys = {}
        for user in ("admin", "poller"):
            iam.create_user(UserName=user)
            policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
            if user == "poller":
                # Everything, except reading one key (as an object ACL or a per-key bucket policy would).
                policy["Statement"].append(
                    {"Effect": "Deny", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/locked.json"}
                )
            iam.put_user_policy(UserName=user, PolicyName="access", PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[user] = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
        admin = moto.client(credentials=keys["admin"])
        admin.create_bucket(Bucket=bucket)
        admin.put_object(Bucket=bucket, Key="open.json", Body=document(50))
        admin.put_object(Bucket=bucket, Key="locked.json", Body=document(40))
        as_poller = {"S3_ENDPOINT_URL": moto.url, "POLLER_BUCKET": bucket, **keys["poller"]}

        process = pollers.once(**as_poller)  # exit 0: the poll succeeds without the locked object

        assert {b.source.key for b in await raw_batches(servers.kafka, topics.raw)} == {"open.json"}
        assert set(await latest_checkpoints(servers.kafka, topics.checkpoints)) == {f"{bucket}/open.json"}
        log = process.log_path.read_text()
        assert "object unreadable" in log and "locked.json" in log and "AccessDenied" in log

        # The permission is fixed: the next poll publishes the object it skipped, and only that one.
        everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        moto.client("iam", credentials=keys["admin"]).put_user_policy(
            UserName="poller", PolicyName="access", PolicyDocument=json.dumps(everything)
        )
        pollers.once(**as_poller)

        batches = await raw_batches(servers.kafka, topics.raw)
        assert covered_indices(batches, "locked.json") == set(range(40))
        assert sum(1 for b in batches if b.source.key == "open.json") == 1
        assert set(await latest_checkpoints(servers.kafka, topics.checkpoints)) == {
            f"{bucket}/open.json",
            f"{bucket}/locked.json",
        }
    finally:
        moto.kill()
