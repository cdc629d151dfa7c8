"""The response cache of the ETag'd routes without I/O: keyed by tenant and ETag, bounded in bytes, off at 0."""

from __future__ import annotations

import time

from meterflow_api.caching import ResponseCache
from meterflow_api.render import csv_response, json_response

ETAG = 'W/"0123456789abcdef"'


def test_a_stored_answer_comes_back_with_its_body_media_type_and_headers() -> None:
    cache = ResponseCache(1_000_000)
    built = csv_response(["start", "value"], [["2023-02-01", 1.5]], "series.csv", headers={"ETag": ETAG})
    cache.put("acme", ETAG, built)
    stored = cache.get("acme", ETAG)
    assert stored is not None
    assert stored.body == built.body and stored.status_code == 200
    assert stored.headers["content-type"] == "text/csv; charset=utf-8"
    assert stored.headers["content-disposition"] == 'inline; filename="series.csv"'
    assert stored.headers["etag"] == ETAG and stored.headers["content-length"] == str(len(built.body))


def test_an_answer_is_served_only_to_the_tenant_whose_request_built_it() -> None:
    cache = ResponseCache(1_000_000)
    cache.put("acme", ETAG, json_response({"value": 1}))
    assert cache.get("other", ETAG) is None
    assert cache.get(None, ETAG) is None  # admin's entries are their own too
    assert cache.get("acme", 'W/"another"') is None


def test_the_least_recently_used_answers_go_first_when_the_bytes_run_out() -> None:
    body = {"points": "x" * 1_000}
    cache = ResponseCache(8 * 1_300)
    for n in range(12):
        cache.put("acme", f"tag-{n}", json_response(body))
        cache.get("acme", "tag-0")  # kept in use
    assert cache.get("acme", "tag-0") is not None
    assert cache.get("acme", "tag-1") is None
    assert cache.get("acme", "tag-11") is not None


def test_one_answer_larger_than_an_eighth_of_the_cache_is_not_stored() -> None:
    cache = ResponseCache(8_000)
    cache.put("acme", ETAG, json_response({"points": "x" * 1_100}))
    assert cache.get("acme", ETAG) is None


def test_size_zero_turns_the_cache_off() -> None:
    cache = ResponseCache(0)
    cache.put("acme", ETAG, json_response({"value": 1}))
    assert cache.get("acme", ETAG) is None


def test_an_answer_expires_after_its_time_whatever_the_etag_says() -> None:
    cache = ResponseCache(1_000_000, ttl_s=0.05)
    cache.put("acme", ETAG, json_response({"value": 1}))
    assert cache.get("acme", ETAG) is not None
    time.sleep(0.1)
    assert cache.get("acme", ETAG) is None
