"""The HTTP source's answers without I/O: the conditional headers a remembered page asks with, and the
version time of a page's readings."""

from __future__ import annotations

from datetime import UTC, datetime

from meterflow_poller.http_client import Page, Validators
from meterflow_poller.http_source import data_time

FETCHED = datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_a_remembered_page_is_asked_for_conditionally() -> None:
    assert Validators('"v1"', "Fri, 03 Feb 2023 06:00:00 GMT").headers() == {
        "If-None-Match": '"v1"',
        "If-Modified-Since": "Fri, 03 Feb 2023 06:00:00 GMT",
    }
    assert Validators().headers() == {}
    page = Page(200, b"{}", {"etag": '"v2"'}, FETCHED)
    assert page.validators == Validators('"v2"', None) and not page.not_modified


def test_a_page_is_as_new_as_its_last_modified_or_its_fetch() -> None:
    assert data_time(Page(200, b"", {"last-modified": "Fri, 03 Feb 2023 06:00:00 GMT"}, FETCHED)) == datetime(
        2023, 2, 3, 6, tzinfo=UTC
    )
    assert data_time(Page(200, b"", {}, FETCHED)) == FETCHED
    assert data_time(Page(200, b"", {"last-modified": "yesterday"}, FETCHED)) == FETCHED
