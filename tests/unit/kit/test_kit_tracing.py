"""Trace ids of source object versions and their W3C traceparent headers."""

from __future__ import annotations

import re

from meterflow_contracts import SourcePosition
from meterflow_kit.tracing import HEADER, trace_headers, trace_id, trace_id_in, trace_id_of, trace_ids_of

SOURCE = SourcePosition(bucket="b", key="k.json", etag="e1", chunk_index=0, record_start=0, record_end=1)


def test_one_object_version_has_one_trace_id_and_another_version_another() -> None:
    assert trace_id_of(SOURCE) == trace_id("b", "k.json", "e1")
    assert trace_id_of(SOURCE.model_copy(update={"chunk_index": 3})) == trace_id_of(SOURCE)
    assert trace_id_of(SOURCE.model_copy(update={"etag": "e2"})) != trace_id_of(SOURCE)
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id("b", "k", "e"))


def test_the_header_is_a_w3c_traceparent_with_a_new_span_each_time() -> None:
    ((name, first),) = trace_headers(SOURCE)
    ((_, second),) = trace_headers(SOURCE)
    assert name == HEADER
    assert re.fullmatch(rf"00-{trace_id_of(SOURCE)}-[0-9a-f]{{16}}-01", first.decode())
    assert first != second
    assert trace_id_in([("other", b"x"), (name, first)]) == trace_id_of(SOURCE)


def test_no_source_no_header_and_bad_headers_no_id() -> None:
    assert trace_headers(None) == []
    assert trace_id_in([(HEADER, b"garbage")]) is None
    assert trace_id_in(None) is None
    assert trace_ids_of([SOURCE, None, SOURCE]) == [trace_id_of(SOURCE)]
