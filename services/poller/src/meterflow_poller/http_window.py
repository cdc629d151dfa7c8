"""Pure logic of the HTTP source, no I/O: which request windows are due, how a window's checkpoint is
written, how pages move, which records of a page are new, and what a response body holds.

A meter's windows are ``[start + k·window, start + (k+1)·window)`` (the last one cut at ``until``); one is
due once it ended ``settle`` ago. The checkpoint of a meter and measurement is the end of its last
completed window, written as ISO 8601 UTC with a ``Z`` (``2023-02-08T00:00:00Z``) in the Checkpoint's
``etag`` field. Pages move like Meterflow's own ``/meterdata/measurement``: records come newest first, at
most ``limit``; the next page asks for ``stop`` = the oldest timestamp received, exclusive, but one
millisecond later, so records of that timestamp cut off by the limit come again (deduplicated) instead of
being lost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import orjson
from meterflow_contracts import DlqReason

# How much of a bad body a dead letter carries as evidence.
EVIDENCE_CHARS = 4096
# A page's next stop overlaps the oldest timestamp by this much (see the module docstring).
_OVERLAP = timedelta(milliseconds=1)

RecordId = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    stop: datetime

    @property
    def label(self) -> str:
        """The window in a raw message's key: ``<start>_<stop>``."""
        return f"{iso(self.start)}_{iso(self.stop)}"


def iso(instant: datetime) -> str:
    """UTC ISO 8601 with a ``Z``, whole seconds unless the instant has a fraction (milliseconds then)."""
    text = instant.astimezone(UTC).isoformat(timespec="milliseconds" if instant.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def encode_checkpoint(window_end: datetime) -> str:
    return iso(window_end)


def decode_checkpoint(etag: str | None) -> datetime | None:
    """The window end a checkpoint holds; None for none or one that is not an instant (start over:
    re-fetching is safe, the writer's version rule absorbs the repeat)."""
    if not etag:
        return None
    try:
        instant = datetime.fromisoformat(etag)
    except ValueError:
        return None
    return instant.astimezone(UTC) if instant.tzinfo is not None else None


def due_windows(
    first: datetime,
    done_until: datetime | None,
    window: timedelta,
    settle: timedelta,
    now: datetime,
    until: datetime | None = None,
) -> list[Window]:
    """The windows to fetch, oldest first: from the checkpoint (or ``first``) to the last window that ended
    ``settle`` before ``now``; aligned on ``first``. A checkpoint off the grid starts a window of its own
    that ends on the grid."""
    begin = first if done_until is None or done_until < first else done_until
    windows: list[Window] = []
    while until is None or begin < until:
        steps = (begin - first) // window + 1
        end = first + window * steps
        if until is not None:
            end = min(end, until)
        if end + settle > now:
            break
        windows.append(Window(begin, end))
        begin = end
    return windows


def record_id(record: Any) -> RecordId | None:
    """What makes a source record unique: timestamp, meter, measurement and quality (None: not a record)."""
    if not isinstance(record, dict):
        return None
    tags = record.get("tags")
    tags = tags if isinstance(tags, dict) else {}
    return (
        str(record.get("timestamp")),
        str(tags.get("muid")),
        str(record.get("measurement")),
        str(tags.get("quality")),
    )


@dataclass(slots=True)
class Deduper:
    """The records of one window seen so far: each is published once, whichever pages repeat it."""

    seen: set[RecordId] = field(default_factory=set)

    def new(self, records: Iterable[Any]) -> list[Any]:
        fresh: list[Any] = []
        for record in records:
            identity = record_id(record)
            if identity is None:
                fresh.append(record)  # not a record: the normalizer dead-letters it with its reason
            elif identity not in self.seen:
                self.seen.add(identity)
                fresh.append(record)
        return fresh


@dataclass(frozen=True, slots=True)
class PageSummary:
    """What paging needs of a page: how many records it held and the oldest timestamp among them."""

    count: int
    oldest: datetime | None
    ids: frozenset[RecordId] = frozenset()


def summarize(records: list[Any]) -> PageSummary:
    stamps = [parse_timestamp(r.get("timestamp")) for r in records if isinstance(r, dict)]
    known = [s for s in stamps if s is not None]
    ids = frozenset(i for i in map(record_id, records) if i is not None)
    return PageSummary(len(records), min(known) if known else None, ids)


def parse_timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def next_stop(page: PageSummary, limit: int, stop: datetime, previous_oldest: datetime | None) -> datetime | None:
    """The ``stop`` of the page after ``page`` (asked with ``stop``), or None when ``page`` was the last:
    fewer than ``limit`` records, or none with a timestamp. When a whole page fell on the oldest timestamp
    of the page before, the next stop is that timestamp itself, so paging always moves on."""
    if page.count < limit or page.oldest is None:
        return None
    if page.oldest == previous_oldest:
        return page.oldest if page.oldest < stop else None
    candidate = page.oldest + _OVERLAP
    return candidate if candidate < stop else page.oldest


class BadBody(ValueError):
    """A response body that holds no page of records; ``code`` says how it is bad (metric label)."""

    def __init__(self, code: str, reason: DlqReason, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


def parse_page(content_type: str | None, body: bytes) -> list[Any]:
    """The records of a response body ``{"data": [records]}``; raises BadBody: ``content_type`` (not
    JSON), ``truncated`` / ``invalid_json`` (not parseable) or ``shape`` (no ``data`` list)."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise BadBody("content_type", DlqReason.INVALID_SHAPE, f"content type {content_type!r}, expected JSON")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        truncated = "unexpected end" in str(error).lower() or not body.rstrip().endswith((b"}", b"]"))
        code = "truncated" if truncated else "invalid_json"
        raise BadBody(code, DlqReason.INVALID_JSON, f"the body is not JSON ({code}): {error}") from None
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, list):
        raise BadBody("shape", DlqReason.INVALID_SHAPE, 'the body is JSON but not {"data": [records]}')
    return data


def body_version(headers: Mapping[str, str], body: bytes) -> str:
    """A page's version: the server's ETag, else the SHA-256 of the body."""
    return headers.get("etag") or f'"sha256:{hashlib.sha256(body).hexdigest()}"'


def retry_after_s(value: str | None, now: datetime) -> float | None:
    """Seconds a Retry-After header asks to wait (delta-seconds or an HTTP date); None if absent or bad."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def evidence(body: bytes) -> str:
    return body[:EVIDENCE_CHARS].decode("utf-8", "replace")
