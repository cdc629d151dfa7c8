"""S3 event notifications as SQS delivers them (the documents moto's server and AWS send)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from meterflow_poller.events import EventKind, NotNotification, ObjectEvent, parse_notification


def notification(name: str, key: str, etag: str | None = "abc", bucket: str = "b") -> str:
    obj = {"key": key, "size": 11, **({"eTag": etag} if etag else {})}
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": "2026-11-30T07:27:19.064Z",
        "eventName": name,
        "s3": {"bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"}, "object": obj},
    }
    return json.dumps({"Records": [record]})


AT = datetime(2026, 11, 30, 7, 27, 19, 64000, tzinfo=UTC)


def test_created_and_removed_with_their_url_encoded_keys() -> None:
    assert parse_notification(notification("ObjectCreated:Put", "a%2Fb+c.json")) == [
        ObjectEvent(EventKind.CREATED, "b", "a/b c.json", "abc", 11, AT)
    ]
    removed = parse_notification(notification("ObjectRemoved:DeleteMarkerCreated", "x.json", etag=None))
    assert removed == [ObjectEvent(EventKind.REMOVED, "b", "x.json", None, 11, AT)]


def test_other_events_and_test_events_carry_no_object_change() -> None:
    assert parse_notification(notification("ObjectRestore:Completed", "x.json")) == []
    assert parse_notification(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"})) == []


def test_a_notification_through_sns_is_unwrapped() -> None:
    wrapped = json.dumps({"Type": "Notification", "Message": notification("ObjectCreated:Copy", "k.json")})
    assert [e.key for e in parse_notification(wrapped)] == ["k.json"]


@pytest.mark.parametrize(
    "body",
    ["not json", "[]", json.dumps({"Records": "x"}), json.dumps({"Records": [{"eventName": "ObjectCreated:Put"}]})],
)
def test_anything_else_is_not_a_notification(body: str) -> None:
    with pytest.raises(NotNotification):
        parse_notification(body)
