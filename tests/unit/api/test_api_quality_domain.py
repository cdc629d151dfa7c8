"""Coverage of a channel from its channels-table row: expected intervals, gaps, ratio; and of a meter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from meterflow_api.domain.quality import Coverage, channel_coverage, meter_coverage

FIRST = datetime(2023, 2, 1, tzinfo=UTC)


def test_a_complete_channel_misses_nothing() -> None:
    assert channel_coverage(FIRST, FIRST + timedelta(days=1) - timedelta(minutes=15), 900, 96) == Coverage(96, 0, 1.0)


def test_gaps_are_the_intervals_between_first_and_last_without_a_reading() -> None:
    coverage = channel_coverage(FIRST, FIRST + timedelta(hours=2), 900, 6)
    assert (coverage.expected, coverage.missing) == (9, 3)
    assert coverage.ratio == 6 / 9


def test_a_channel_without_an_interval_is_complete() -> None:
    assert channel_coverage(FIRST, FIRST, None, 1) == Coverage(1, 0, 1.0)


def test_a_meter_sums_its_channels() -> None:
    total = meter_coverage([Coverage(10, 2, 0.8), Coverage(30, 0, 1.0)])
    assert (total.expected, total.missing, total.ratio) == (40, 2, 38 / 40)
