"""The query API's pure logic: parameter validation, calendar buckets across DST, cursors, statistics."""

from __future__ import annotations

import itertools
import math
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from meterflow_api import domain
from meterflow_api.domain import (
    INTERVALS,
    Channel,
    Problems,
    bucket_bounds,
    plan_series,
)
from meterflow_api.errors import InvalidRequest, NotFound, ParamError
from meterflow_obis import parse
from meterflow_schema.channels import describe_obis

ZURICH = ZoneInfo("Europe/Zurich")
KOLKATA = ZoneInfo("Asia/Kolkata")
NEW_YORK = ZoneInfo("America/New_York")


def at(text: str, zone: ZoneInfo = ZURICH) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


def bounds(start: str, end: str, interval: str, zone: ZoneInfo = ZURICH) -> list[tuple[datetime, datetime]]:
    return list(bucket_bounds(plan_series(at(start, zone), at(end, zone), INTERVALS[interval], zone)))


# --- parameters ---------------------------------------------------------------------------------------------


def test_muid() -> None:
    assert domain.parse_muid("95ce3367-cbce-4a4d-bbe3-da082831d7bd") == uuid.UUID(
        "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
    )
    with pytest.raises(ParamError, match="'nope' is not a meter id: expected a UUID such as 95ce3367"):
        domain.parse_muid("nope")


def test_zone() -> None:
    assert domain.parse_zone("Europe/Zurich") == ZURICH
    assert domain.parse_zone("UTC").key == "UTC"
    with pytest.raises(ParamError, match=r"did you mean Europe/Zurich\?"):
        domain.parse_zone("europe/zurich")
    for bad in ("UTC+3", "", "../etc/passwd", "Mars/Base", "/etc/localtime"):
        with pytest.raises(ParamError, match="use an IANA name"):
            domain.parse_zone(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-02-01", "2023-01-31T23:00:00+00:00"),  # a date: midnight in the zone
        ("2023-02-01T06:00", "2023-02-01T05:00:00+00:00"),  # naive: wall-clock time in the zone
        ("2023-02-01 06:00:00", "2023-02-01T05:00:00+00:00"),
        ("2023-02-01T05:00:00Z", "2023-02-01T05:00:00+00:00"),
        ("2023-02-01T06:00:00+01:00", "2023-02-01T05:00:00+00:00"),
        ("2023-02-01T06:00:00 01:00", "2023-02-01T05:00:00+00:00"),  # an unencoded '+' became a space
        ("2023-07-01T12:00:00.250-04:00", "2023-07-01T16:00:00.250000+00:00"),
        ("2023-03-26T02:30", "2023-03-26T01:30:00+00:00"),  # does not exist in Zurich: offset before the change
        ("2023-10-29T02:30", "2023-10-29T00:30:00+00:00"),  # occurs twice: the first (summer time)
    ],
)
def test_instant(text: str, expected: str) -> None:
    assert domain.parse_instant(text, ZURICH).isoformat() == expected


@pytest.mark.parametrize("text", ["yesterday", "2023-13-01", "2023-02-30", "1675209600", ""])
def test_instant_rejects(text: str) -> None:
    with pytest.raises(ParamError, match="is not an ISO 8601 date or date-time"):
        domain.parse_instant(text, ZURICH)


def test_interval_agg_limit_lags() -> None:
    assert domain.parse_interval("1mo").months == 1
    with pytest.raises(ParamError, match="unknown interval '2d': use one of 15m, 1h, 1d, 1w, 1mo"):
        domain.parse_interval("2d")
    assert domain.parse_agg("avg") == "avg"
    with pytest.raises(ParamError, match="use one of sum, avg, min, max, count"):
        domain.parse_agg("median")
    assert domain.parse_limit(10_000) == 10_000
    with pytest.raises(ParamError, match="between 1 and 10000 \\(got 10001\\)"):
        domain.parse_limit(10_001)
    assert domain.parse_lags("96, 672") == [96, 672]
    for bad in ("", "0", "-1", "1.5", "x", "100001", ",".join(["1"] * 21)):
        with pytest.raises(ParamError):
            domain.parse_lags(bad)


def test_obis() -> None:
    assert domain.parse_obis("1.29.0").normalized == "1-0:1.29.0*255"
    with pytest.raises(ParamError, match="12 hex digits"):
        domain.parse_obis("0100011D00")


def test_problems_collects_every_error() -> None:
    problems = Problems()
    assert problems.attempt(("query", "agg"), lambda: domain.parse_agg("sum")) == "sum"
    problems.attempt(("query", "tz"), lambda: domain.parse_zone("Nowhere"))
    problems.attempt(("query", "interval"), lambda: domain.parse_interval("7d"))
    with pytest.raises(InvalidRequest) as raised:
        problems.raise_if_any()
    assert [p.loc for p in raised.value.problems] == [("query", "tz"), ("query", "interval")]


# --- buckets ------------------------------------------------------------------------------------------------


def test_days_across_spring_and_autumn_dst() -> None:
    spring = bounds("2023-03-25", "2023-03-28", "1d")
    assert [(e - s) / timedelta(hours=1) for s, e in spring] == [24, 23, 24]
    autumn = bounds("2023-10-28", "2023-10-31", "1d")
    assert [(e - s) / timedelta(hours=1) for s, e in autumn] == [24, 25, 24]
    assert all(s.astimezone(ZURICH).hour == 0 for s, _ in spring + autumn)


def test_hours_and_quarter_hours_of_dst_days() -> None:
    assert len(bounds("2023-03-26", "2023-03-27", "1h")) == 23
    assert len(bounds("2023-10-29", "2023-10-30", "1h")) == 25
    assert len(bounds("2023-03-26", "2023-03-27", "15m")) == 92
    autumn = [s.astimezone(ZURICH).isoformat() for s, _ in bounds("2023-10-29", "2023-10-30", "1h")]
    assert autumn[2:4] == ["2023-10-29T02:00:00+02:00", "2023-10-29T02:00:00+01:00"]


def test_weeks_start_monday_and_months_are_calendar_months() -> None:
    weeks = bounds("2023-03-01", "2023-04-01", "1w")
    assert all(s.astimezone(ZURICH).weekday() == 0 for s, _ in weeks)
    assert weeks[0][0] == at("2023-02-27")
    assert weeks[-1][1] == at("2023-04-03")
    months = bounds("2023-01-15", "2024-01-01", "1mo")
    assert [s.astimezone(ZURICH).strftime("%Y-%m-%d %z") for s, _ in months][:4] == [
        "2023-01-01 +0100",
        "2023-02-01 +0100",
        "2023-03-01 +0100",
        "2023-04-01 +0200",
    ]
    assert len(months) == 12 and months[-1][1] == at("2024-01-01")


def test_fixed_buckets_follow_a_half_hour_offset() -> None:
    hours = bounds("2023-02-01T00:00", "2023-02-01T03:00", "1h", KOLKATA)
    assert [s.isoformat() for s, _ in hours] == [
        "2023-01-31T18:30:00+00:00",
        "2023-01-31T19:30:00+00:00",
        "2023-01-31T20:30:00+00:00",
    ]


def test_unaligned_range_gets_the_buckets_it_overlaps() -> None:
    plan = plan_series(at("2023-02-01T10:20"), at("2023-02-03T00:00"), INTERVALS["1d"], ZURICH)
    assert [s for s, _ in bucket_bounds(plan)] == [at("2023-02-01"), at("2023-02-02")]
    assert plan.start == at("2023-02-01T10:20")
    quarter = plan_series(at("2023-02-01T10:20"), at("2023-02-01T10:50"), INTERVALS["15m"], ZURICH)
    assert [s for s, _ in bucket_bounds(quarter)] == [
        at("2023-02-01T10:15"),
        at("2023-02-01T10:30"),
        at("2023-02-01T10:45"),
    ]


def test_range_limits_are_measured_on_the_wall_clock() -> None:
    # October in Zurich is 31 days and 1 hour long, and still "31 days".
    assert len(bounds("2023-10-01", "2023-11-01", "15m")) == 31 * 96 + 4
    with pytest.raises(InvalidRequest, match="at most 31 days, got 32 days"):
        plan_series(at("2023-10-01"), at("2023-11-02"), INTERVALS["15m"], ZURICH)
    with pytest.raises(InvalidRequest, match="at most 366 days"):
        plan_series(at("2022-01-01"), at("2023-03-01"), INTERVALS["1h"], ZURICH)
    with pytest.raises(InvalidRequest, match="must be before end"):
        plan_series(at("2023-01-02"), at("2023-01-01"), INTERVALS["1d"], ZURICH)


ZONES = [ZoneInfo(name) for name in ("UTC", "Europe/Zurich", "America/New_York", "Asia/Kolkata", "Australia/Sydney")]


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    interval=st.sampled_from(list(INTERVALS)),
    start=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1)),
    length_minutes=st.integers(min_value=1, max_value=40 * 24 * 60),
)
def test_buckets_tile_the_range(zone: ZoneInfo, interval: str, start: datetime, length_minutes: int) -> None:
    lo = start.replace(tzinfo=UTC)
    hi = lo + timedelta(minutes=length_minutes)
    spec = INTERVALS[interval]
    if domain.wall_clock_span(lo, hi, zone) > spec.max_range:
        return
    plan = plan_series(lo, hi, spec, zone)
    buckets = list(bucket_bounds(plan))
    assert len(buckets) == plan.buckets
    assert buckets[0][0] <= lo < buckets[0][1]
    assert buckets[-1][0] < hi <= buckets[-1][1]
    for (_, end), (following, _) in itertools.pairwise(buckets):
        assert end == following
    for begin, end in buckets:
        assert begin < end
        assert domain.bucket_floor(begin, spec, zone) == begin
        if spec.calendar:
            assert begin.astimezone(zone).time().isoformat() == "00:00:00" or _midnight_missing(begin, zone)


def _midnight_missing(instant: datetime, zone: ZoneInfo) -> bool:
    """True where local midnight does not exist (a DST change at midnight)."""
    wall = instant.astimezone(zone).replace(hour=0, minute=0, tzinfo=None)
    return wall.replace(tzinfo=zone).astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall


# --- cursors ------------------------------------------------------------------------------------------------


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_cursor_round_trip(ts: datetime) -> None:
    cursor = domain.encode_cursor(ts)
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert domain.decode_cursor(cursor) == ts


def test_cursor_of_an_offset_time_is_the_same_instant() -> None:
    ts = datetime(2023, 3, 26, 3, 0, tzinfo=ZURICH)
    assert domain.decode_cursor(domain.encode_cursor(ts)) == ts


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGEgZGF0ZQ", "MjAyMy0wMi0wMVQwMDowMDowMA"])
def test_cursor_rejects_foreign_text(cursor: str) -> None:
    # The last one is a naive timestamp: not something this API hands out.
    with pytest.raises(ParamError, match="pass next_cursor of the previous page unchanged"):
        domain.decode_cursor(cursor)


# --- channels -----------------------------------------------------------------------------------------------

T0 = datetime(2023, 2, 1, tzinfo=UTC)
IMPORT = Channel("1-0:1.29.0*255", T0, T0 + timedelta(days=1))
EXPORT = Channel("1-0:2.29.0*255", T0, T0 + timedelta(days=1))
MUID = uuid.UUID(int=1)


def test_choose_channel() -> None:
    assert domain.choose_channel(MUID, None, [IMPORT]) == IMPORT
    assert domain.choose_channel(MUID, parse("2.29.0"), [IMPORT, EXPORT]) == EXPORT
    with pytest.raises(InvalidRequest, match=r"obis is required: .* has 2 channels: 1-0:1.29.0\*255 \(0100011D00FF\)"):
        domain.choose_channel(MUID, None, [IMPORT, EXPORT])
    with pytest.raises(NotFound, match="unknown meter"):
        domain.choose_channel(MUID, None, [])
    with pytest.raises(NotFound, match=r"has no channel 1-0:2.29.0\*255 \(0100021D00FF\)"):
        domain.choose_channel(MUID, parse("0100021D00FF"), [IMPORT])


def test_default_range_is_the_channel_data() -> None:
    assert domain.resolve_range(None, None, IMPORT) == (IMPORT.first, IMPORT.last + timedelta(microseconds=1))
    assert domain.resolve_range(None, None, IMPORT, timedelta(minutes=15))[1] == IMPORT.last + timedelta(minutes=15)
    start = T0 + timedelta(hours=3)
    assert domain.resolve_range(start, None, IMPORT)[0] == start


def test_measurement_and_unit() -> None:
    # The API reads a channel's measurement from the channels table, written with this decoding.
    assert describe_obis("1-0:1.29.0*255").measurement == "energy"
    assert describe_obis("1-0:1.7.0*255").measurement == "power"
    assert describe_obis("1-0:32.7.0*255").measurement == "voltage"


# --- statistics ---------------------------------------------------------------------------------------------


def test_expected_and_coverage() -> None:
    assert domain.expected_intervals(T0, T0 + timedelta(days=28), timedelta(minutes=15)) == 2688
    assert domain.expected_intervals(T0, T0 + timedelta(minutes=20), timedelta(minutes=15)) == 2
    assert domain.expected_intervals(T0, T0, timedelta(minutes=15)) == 0
    assert domain.coverage(2680, 2688) == pytest.approx(2680 / 2688)
    assert domain.coverage(0, 0) is None


def test_assemble_profile() -> None:
    profile = domain.assemble_profile([(0, 0, 5, 1.5), (1, 0, None, 1.0), (2, None, 5, 1.25), (1, 6, None, 2.0)])
    assert profile.weekday_hour[0][5] == 1.5
    assert profile.by_weekday == [1.0, None, None, None, None, None, 2.0]
    assert profile.by_hour[5] == 1.25 and profile.by_hour[4] is None
    assert len(profile.weekday_hour) == 7 and all(len(row) == 24 for row in profile.weekday_hour)


def test_regular_series_puts_gaps_as_nan() -> None:
    step = timedelta(minutes=15)
    stamps = [T0, T0 + step, T0 + 3 * step, T0 + 4 * step + timedelta(minutes=2)]
    grid = domain.regular_series(stamps, [1.0, 2.0, 4.0, 5.0], step)
    assert np.array_equal(grid, [1.0, 2.0, np.nan, 4.0, 5.0], equal_nan=True)
    assert domain.regular_series([], [], step).size == 0


def test_autocorrelation_textbook_values() -> None:
    n = 10
    alternating = np.array([1.0 if i % 2 == 0 else -1.0 for i in range(n)])
    r1, r2 = domain.autocorrelation(alternating, [1, 2])
    assert r1 == pytest.approx(-(n - 1) / n)
    assert r2 == pytest.approx((n - 2) / n)
    assert domain.autocorrelation(alternating, [10, 11]) == [None, None]
    assert domain.autocorrelation(np.ones(5), [1]) == [None]
    assert domain.autocorrelation(np.full(4, np.nan), [1]) == [None]


def test_autocorrelation_with_gaps_skips_missing_pairs() -> None:
    x = np.array([1.0, 2.0, np.nan, 4.0, 3.0, np.nan, 1.0, 2.0])
    mean = np.nanmean(x)
    centred = np.nan_to_num(x - mean)
    expected = float(np.dot(centred[:-1], centred[1:]) / np.dot(centred, centred))
    (value,) = domain.autocorrelation(x, [1])
    assert value == pytest.approx(expected)
    assert not math.isnan(value or 0.0)
    only_gaps_apart = np.array([1.0, np.nan, 3.0, np.nan])
    assert domain.autocorrelation(only_gaps_apart, [1]) == [None]


def test_source_format() -> None:
    assert domain.source_timestamp(datetime(2023, 2, 28, 23, 45, tzinfo=UTC)) == "2023-02-28T23:45:00.000Z"
    assert domain.source_timestamp(datetime(2023, 3, 1, 0, 45, 0, 123456, tzinfo=ZURICH)) == "2023-02-28T23:45:00.123Z"
    assert domain.source_number(0.0) == 0 and isinstance(domain.source_number(0.0), int)
    assert domain.source_number(0.035500000000000004) == 0.035500000000000004
    assert isinstance(domain.source_number(2.5), float)


def test_channel_cache_expires_and_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from meterflow_api import db

    clock = [100.0]
    monkeypatch.setattr(db.time, "monotonic", lambda: clock[0])
    cache = db.ChannelCache(ttl_s=2.0, max_entries=3)
    cache.put(MUID, [IMPORT])
    assert cache.get(MUID) == [IMPORT]
    clock[0] += 2.5
    assert cache.get(MUID) is None
    for i in range(5):
        cache.put(uuid.UUID(int=10 + i), [])
    assert len(cache._entries) == 3
    assert cache.get(uuid.UUID(int=14)) == []
    off = db.ChannelCache(ttl_s=0)
    off.put(MUID, [IMPORT])
    assert off.get(MUID) is None


def test_meters_cursor_round_trips_and_refuses_other_text() -> None:
    for muid in (uuid.UUID(int=0), uuid.UUID(int=(1 << 128) - 1), uuid.uuid4()):
        cursor = domain.encode_meters_cursor(muid)
        assert domain.decode_meters_cursor(cursor) == muid
        with pytest.raises(ParamError, match="next_cursor of the previous page unchanged"):
            domain.decode_meters_cursor(cursor + "A")
    for text in ("", "abc", "====", domain.encode_cursor(datetime(2023, 2, 1, tzinfo=UTC))):
        with pytest.raises(ParamError, match="next_cursor of the previous page unchanged"):
            domain.decode_meters_cursor(text)
