"""Epoch microseconds to UTC instants (meterflow_api.instants): exact datetimes and the very text orjson writes
for them, in order, through bounded caches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from meterflow_api import instants

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# 0001-01-01 .. 9999-12-31 as epoch microseconds: every instant a datetime can hold.
MICROS = st.integers(min_value=-62_135_596_800_000_000, max_value=253_402_300_799_999_999)


@given(st.lists(MICROS, max_size=50))
def test_every_value_becomes_its_exact_utc_instant_in_order(micros: list[int]) -> None:
    expected = [EPOCH + timedelta(microseconds=us) for us in micros]
    assert instants.utc_instants(micros) == expected
    assert all(t.tzinfo is UTC for t in instants.utc_instants(micros))
    assert orjson.dumps(instants.utc_texts(micros)) == orjson.dumps(expected)  # the same JSON as the datetimes


def test_a_warm_page_reuses_the_instants_and_the_caches_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instants, "MAX_CACHED", 4)
    monkeypatch.setattr(instants, "_datetimes", {})
    monkeypatch.setattr(instants, "_texts", {})
    quarter = 15 * 60 * 1_000_000
    first = instants.utc_instants([0, quarter, 2 * quarter])
    assert instants.utc_instants([quarter])[0] is first[1]  # the same object: a look-up, not a new datetime
    assert instants.utc_texts([quarter, quarter + 1]) == [
        "1970-01-01T00:15:00+00:00",
        "1970-01-01T00:15:00.000001+00:00",
    ]
    page = [10 * quarter + i * quarter for i in range(3)]  # 3 + 3 would pass the bound: the cache starts over
    assert instants.utc_instants(page) == [EPOCH + timedelta(microseconds=us) for us in page]
    assert len(instants._datetimes) == 3
    assert instants.utc_instants([]) == [] and instants.utc_texts([]) == []
