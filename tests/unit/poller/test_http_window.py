"""The HTTP source's pure logic: due windows and their checkpoint, how pages move, deduplication within a
window, what a body holds, and Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from meterflow_contracts import DlqReason
from meterflow_poller.http_window import (
    BadBody,
    Deduper,
    PageSummary,
    Window,
    body_version,
    decode_checkpoint,
    due_windows,
    encode_checkpoint,
    next_stop,
    parse_page,
    retry_after_s,
    summarize,
)

T0 = datetime(2023, 2, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def record(ts: datetime, quality: str = "measured", muid: str = "m1") -> dict[str, Any]:
    stamp = ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"measurement": "energy", "timestamp": stamp, "tags": {"muid": muid, "quality": quality}, "0100011D00FF": 1}


def test_windows_from_the_start_until_the_last_settled_one() -> None:
    windows = due_windows(T0, None, DAY, timedelta(hours=1), now=at(3) + timedelta(minutes=59))
    assert windows == [Window(at(0), at(1)), Window(at(1), at(2))]  # the third ended 59 minutes ago


def test_windows_go_on_from_the_checkpoint_and_stop_at_until() -> None:
    windows = due_windows(T0, at(2), DAY, timedelta(0), now=at(100), until=at(4.5))
    assert windows == [Window(at(2), at(3)), Window(at(3), at(4)), Window(at(4), at(4.5))]
    assert due_windows(T0, at(4.5), DAY, timedelta(0), now=at(100), until=at(4.5)) == []


def test_a_checkpoint_off_the_grid_ends_its_window_on_the_grid() -> None:
    assert due_windows(T0, at(1.25), DAY, timedelta(0), now=at(2))[0] == Window(at(1.25), at(2))


def test_the_checkpoint_is_the_window_end_as_text() -> None:
    assert encode_checkpoint(at(7)) == "2023-02-08T00:00:00Z"
    assert decode_checkpoint("2023-02-08T00:00:00Z") == at(7)
    assert decode_checkpoint('"an s3 etag"') is None and decode_checkpoint(None) is None
    assert Window(at(0), at(1)).label == "2023-02-01T00:00:00Z_2023-02-02T00:00:00Z"


def test_pages_move_to_the_oldest_timestamp_with_an_overlap() -> None:
    stop = at(1)
    full = PageSummary(3, at(0.5))
    assert next_stop(full, 3, stop, None) == at(0.5) + timedelta(milliseconds=1)
    assert next_stop(PageSummary(2, at(0.25)), 3, stop, at(0.5)) is None  # fewer than limit: the last page
    assert next_stop(PageSummary(0, None), 3, stop, None) is None


def test_a_page_all_on_the_previous_oldest_timestamp_still_moves_on() -> None:
    stuck = PageSummary(3, at(0.5))
    assert next_stop(stuck, 3, at(0.5) + timedelta(milliseconds=1), at(0.5)) == at(0.5)


def test_duplicates_within_a_window_are_published_once() -> None:
    dedupe = Deduper()
    first = dedupe.new([record(at(0.5)), record(at(0.25)), record(at(0.25))])
    second = dedupe.new([record(at(0.25)), record(at(0.25), "estimated"), record(at(0))])
    assert len(first) == 2
    assert [(r["timestamp"], r["tags"]["quality"]) for r in second] == [
        ("2023-02-01T06:00:00.000Z", "estimated"),
        ("2023-02-01T00:00:00.000Z", "measured"),
    ]
    assert dedupe.new(["not a record", "not a record"]) == ["not a record", "not a record"]  # the normalizer judges


def test_a_page_summary_names_its_oldest_timestamp() -> None:
    summary = summarize([record(at(0.5)), record(at(0.25)), {"timestamp": "nonsense"}])
    assert (summary.count, summary.oldest, len(summary.ids)) == (3, at(0.25), 3)


def test_a_good_body_holds_its_records() -> None:
    assert parse_page("application/json; charset=utf-8", b'{"data": [{"a": 1}]}') == [{"a": 1}]


@pytest.mark.parametrize(
    ("content_type", "body", "code", "reason"),
    [
        ("text/html", b"<html>busy</html>", "content_type", DlqReason.INVALID_SHAPE),
        (None, b'{"data": []}', "content_type", DlqReason.INVALID_SHAPE),
        (
            "application/json",
            b'{"data": [{"timestamp": "2023-02-01T00:00:00.000Z", "ta',
            "truncated",
            DlqReason.INVALID_JSON,
        ),
        ("application/json", b'{"data": [1} x}', "invalid_json", DlqReason.INVALID_JSON),
        ("application/json", b'{"records": []}', "shape", DlqReason.INVALID_SHAPE),
        ("application/json", b"[1, 2]", "shape", DlqReason.INVALID_SHAPE),
    ],
)
def test_a_bad_body_says_how_it_is_bad(content_type: str | None, body: bytes, code: str, reason: DlqReason) -> None:
    with pytest.raises(BadBody) as raised:
        parse_page(content_type, body)
    assert (raised.value.code, raised.value.reason) == (code, reason)


def test_a_page_version_is_its_etag_or_the_body_hash() -> None:
    assert body_version({"etag": '"v1"'}, b"{}") == '"v1"'
    assert body_version({}, b"{}") == body_version({}, b"{}") != body_version({}, b"{ }")
    assert body_version({}, b"{}").startswith('"sha256:')


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_s("3", now) == 3
    assert retry_after_s("Thu, 01 Jan 2026 12:00:05 GMT", now) == 5
    assert retry_after_s("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0
    assert retry_after_s("soon", now) is None and retry_after_s(None, now) is None
