"""Epoch microseconds to UTC datetimes (meterflow_api.instants): exact, in order, and a bounded cache."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from meterflow_api import instants

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@given(st.lists(st.integers(min_value=-(2**53), max_value=2**53), max_size=50))
def test_every_value_becomes_its_exact_utc_instant_in_order(micros: list[int]) -> None:
    assert instants.utc_instants(micros) == [EPOCH + timedelta(microseconds=us) for us in micros]
    assert all(t.tzinfo is UTC for t in instants.utc_instants(micros))


def test_a_warm_page_reuses_the_instants_and_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instants, "MAX_CACHED", 4)
    monkeypatch.setattr(instants, "_cached", {})
    quarter = 15 * 60 * 1_000_000
    first = instants.utc_instants([0, quarter, 2 * quarter])
    assert instants.utc_instants([quarter])[0] is first[1]  # the same object: a look-up, not a new datetime
    page = [10 * quarter + i * quarter for i in range(3)]  # 3 + 3 would pass the bound: the cache starts over
    assert instants.utc_instants(page) == [EPOCH + timedelta(microseconds=us) for us in page]
    assert len(instants._cached) == 3
    assert instants.utc_instants([]) == []
