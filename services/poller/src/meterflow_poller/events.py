"""S3 event notifications as the poller reads them from an SQS queue (pure: no I/O).

S3 sends one JSON document per notification: ``{"Records": [{"eventName": "ObjectCreated:Put", "eventTime":
..., "s3": {"bucket": {"name": ...}, "object": {"key": <URL-encoded>, "size": ..., "eTag": ...,
"sequencer": ...}}}]}``, or ``{"Event": "s3:TestEvent", ...}`` when a configuration is saved. The same
document may arrive wrapped by SNS (``{"Type": "Notification", "Message": "<the document>"}``) when the
bucket notifies a topic that the queue subscribes to. Anything else is not a notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

import orjson


class EventKind(StrEnum):
    CREATED = "created"
    REMOVED = "removed"


@dataclass(frozen=True, slots=True)
class ObjectEvent:
    """One object created or removed, as the notification describes it."""

    kind: EventKind
    bucket: str
    key: str
    etag: str | None
    size: int | None
    at: datetime


class NotNotification(ValueError):
    """The message is not an S3 event notification (it is deleted, counted and logged)."""


def parse_notification(body: str | bytes) -> list[ObjectEvent]:
    """The object events of one queue message: empty for a test event, NotNotification for anything that
    is not an S3 notification. Events other than created and removed (restore, replication, ...) are
    left out: they do not change what the bucket holds."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise NotNotification(f"not JSON: {error}") from None
    if isinstance(document, dict) and document.get("Type") == "Notification" and "Message" in document:
        return parse_notification(document["Message"])  # delivered through SNS
    if isinstance(document, dict) and document.get("Event") == "s3:TestEvent":
        return []
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise NotNotification("no Records list: not an S3 event notification")
    return [event for record in records if (event := _event(record)) is not None]


def _event(record: Any) -> ObjectEvent | None:
    try:
        name: str = record["eventName"]
        s3 = record["s3"]
        kind = EventKind.CREATED if name.startswith("ObjectCreated:") else None
        kind = EventKind.REMOVED if name.startswith("ObjectRemoved:") else kind
        if kind is None:
            return None
        obj = s3["object"]
        etag = obj.get("eTag")
        return ObjectEvent(
            kind=kind,
            bucket=str(s3["bucket"]["name"]),
            key=unquote_plus(str(obj["key"])),  # S3 URL-encodes keys in notifications (spaces as '+')
            etag=str(etag).strip('"') if etag else None,
            size=int(obj["size"]) if obj.get("size") is not None else None,
            at=datetime.fromisoformat(str(record["eventTime"]).replace("Z", "+00:00")),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise NotNotification(f"an event record without the fields S3 sends: {error!r}") from None
