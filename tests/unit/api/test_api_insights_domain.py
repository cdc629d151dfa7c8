"""The pure rules of issue 14's insight part: day types and holidays, readable numbers, comparison periods,
the insight figures on hand-made hours, and ETag matching."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from meterflow_api.caching import matches
from meterflow_api.domain.compare import comparison_range, differences, parse_compare
from meterflow_api.domain.holidays import (
    Region,
    dates_in_range,
    day_kind,
    parse_day_type,
    parse_region,
    public_holidays,
)
from meterflow_api.domain.insights import (
    ExportDay,
    HourEnergy,
    base_load,
    day_shapes,
    peak_hours,
    pv_window,
    standby,
    unusual_days,
    weekday_weekend,
)
from meterflow_api.domain.numbers import readable
from meterflow_api.domain.statistics import expected_on_days, whole_hour_offsets
from meterflow_api.errors import ParamError

ZURICH = ZoneInfo("Europe/Zurich")


def test_readable_removes_binary_noise_only() -> None:
    assert readable(1.8298999999999999) == 1.8299
    assert readable(97.6081999999997) == 97.6082
    assert readable(0.1 + 0.2) == 0.3
    assert readable(0.036312574404761794) == 0.0363125744048
    assert readable(123456.789012) == 123456.789012
    assert readable(None) is None and readable(0.0) == 0.0 and readable(7) == 7
    assert isinstance(readable(7), int)


def test_regions_and_day_types() -> None:
    assert parse_region("ch-zh") == Region("CH", "ZH")
    assert parse_region("DE") == Region("DE", None)
    with pytest.raises(ParamError, match="CH or CH-ZH"):
        parse_region("XX")
    with pytest.raises(ParamError, match="subdivision"):
        parse_region("CH-XX")
    with pytest.raises(ParamError, match="all, weekday, weekend, holiday"):
        parse_day_type("workday")
    zh = Region("CH", "ZH")
    assert list(public_holidays(zh, date(2023, 4, 1), date(2023, 5, 31))) == [
        date(2023, 4, 7),
        date(2023, 4, 10),
        date(2023, 5, 1),
        date(2023, 5, 18),
        date(2023, 5, 29),
    ]
    assert day_kind(date(2023, 4, 10), zh) == "holiday"
    assert day_kind(date(2023, 4, 8), zh) == "weekend"
    assert day_kind(date(2023, 4, 11), zh) == "weekday"


def test_dates_in_range_are_local_dates() -> None:
    zh = Region("CH", "ZH")
    # 2023-04-08T23:30Z is already Sunday the 9th in Zurich.
    start, end = datetime(2023, 4, 7, 22, tzinfo=UTC), datetime(2023, 4, 9, 22, tzinfo=UTC)
    assert dates_in_range("all", zh, start, end, ZURICH) is None
    assert dates_in_range("weekend", zh, start, end, ZURICH) == [date(2023, 4, 8), date(2023, 4, 9)]
    assert dates_in_range("weekend", zh, start, end, ZoneInfo("UTC")) == [date(2023, 4, 8), date(2023, 4, 9)]
    assert dates_in_range("weekday", zh, start, end, ZoneInfo("UTC")) == [date(2023, 4, 7)]
    assert dates_in_range("holiday", zh, start, end, ZURICH) == []
    assert dates_in_range("holiday", zh, start, end, ZoneInfo("UTC")) == [date(2023, 4, 7)]


def test_expected_intervals_on_dst_days() -> None:
    step = timedelta(minutes=15)
    start, end = datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 11, 1, tzinfo=UTC)
    assert expected_on_days(start, end, step, [date(2023, 3, 26), date(2023, 10, 29)], ZURICH) == 92 + 100


def test_comparison_periods() -> None:
    start = datetime(2023, 3, 1, tzinfo=ZURICH).astimezone(UTC)
    end = datetime(2023, 4, 1, tzinfo=ZURICH).astimezone(UTC)
    assert comparison_range("previous", start, end, ZURICH) == (
        datetime(2023, 1, 29, tzinfo=ZURICH).astimezone(UTC),
        start,
    )
    leap_lo = datetime(2024, 2, 29, tzinfo=ZURICH).astimezone(UTC)
    leap_hi = datetime(2024, 3, 1, tzinfo=ZURICH).astimezone(UTC)
    assert comparison_range("year", leap_lo, leap_hi, ZURICH) == (
        datetime(2023, 2, 28, tzinfo=ZURICH).astimezone(UTC),
        datetime(2023, 3, 1, tzinfo=ZURICH).astimezone(UTC),
    )
    assert parse_compare("year") == "year"
    with pytest.raises(ParamError):
        parse_compare("month")
    found = differences({"total": 12.0, "count": 10}, {"total": 10.0, "count": 0}, ["total", "count", "mean"])
    assert found == {
        "total": {"absolute": 2.0, "relative": 0.2},
        "count": {"absolute": 10, "relative": None},
        "mean": {"absolute": None, "relative": None},
    }


def _hours(days: int, load: float, extra: dict[int, float]) -> list[HourEnergy]:
    """``days`` days from Monday 2023-03-06 with ``load`` kWh every hour plus ``extra`` at some hours."""
    first = datetime(2023, 3, 6)
    return [HourEnergy(first + timedelta(hours=h), load + extra.get(h % 24, 0.0)) for h in range(days * 24)]


def test_consumption_insights_on_hand_made_hours() -> None:
    hours = _hours(14, 0.2, {18: 1.0, 19: 0.5, 7: 0.3, 3: -0.1})
    assert base_load(hours) == {"kw": 0.1, "hour": 3, "sentence": "Your base load is 0.10 kW."}
    figures = standby(hours, 0.1)
    assert figures is not None
    assert figures["kwh"] == pytest.approx(0.1 * 14 * 24)
    assert figures["share"] == pytest.approx(0.1 * 24 / (0.2 * 24 + 1.7))
    peaks = peak_hours(hours)
    assert peaks is not None and peaks["hours"] == [18, 19, 7]
    assert peaks["sentence"].startswith("You use the most energy between 18:00-19:00, 19:00-20:00 and 07:00-08:00")
    shapes = weekday_weekend(hours)
    assert shapes is not None and shapes["ratio"] == 1.0
    assert "0 % more" in shapes["sentence"]
    assert unusual_days(hours) is None  # every day its weekday's usual shape


def test_an_unusual_day_stands_out() -> None:
    hours = _hours(28, 0.2, {18: 1.0})
    odd = datetime(2023, 3, 15, 12)  # a Wednesday with a 5 kWh noon
    hours = [HourEnergy(h.local, h.kwh + (5.0 if h.local == odd else 0.0)) for h in hours]
    hours[5] = HourEnergy(hours[5].local, hours[5].kwh + 0.01)  # a little spread elsewhere
    hours[30] = HourEnergy(hours[30].local, hours[30].kwh + 0.02)
    found = unusual_days(hours)
    assert found is not None
    assert found["days"][0]["date"] == "2023-03-15" and found["days"][0]["unusual"] is True
    assert found["sentence"].startswith("2023-03-15 differed most from a usual Wednesday")


def test_dst_days_shape() -> None:
    # 29 October 2023 in Zurich: 02:00 twice; 26 March: no 02:00.
    autumn = [HourEnergy(datetime(2023, 10, 29, 2), 1.0), HourEnergy(datetime(2023, 10, 29, 2), 0.5)]
    spring = [HourEnergy(datetime(2023, 3, 26, 1), 1.0), HourEnergy(datetime(2023, 3, 26, 3), 1.0)]
    shapes = day_shapes(autumn + spring)
    assert shapes[date(2023, 10, 29)][2] == 1.5
    assert shapes[date(2023, 3, 26)][2] is None


def test_pv_window() -> None:
    days = [
        ExportDay(date(2023, 2, 1), time(8, 15), time(17, 0)),
        ExportDay(date(2023, 2, 2), time(7, 45), time(16, 30)),
    ]
    found = pv_window(days)
    assert found is not None and (found["first"], found["last"]) == ("07:45", "17:00")
    assert found["sentence"] == "Your solar export runs between 07:45 and 17:00 (earliest start, latest end)."
    assert pv_window([]) is None


def test_whole_hour_offsets() -> None:
    assert whole_hour_offsets(datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 4, 1, tzinfo=UTC), ZURICH)
    kolkata = ZoneInfo("Asia/Kolkata")
    assert not whole_hour_offsets(datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 4, 1, tzinfo=UTC), kolkata)
    assert not whole_hour_offsets(datetime(2023, 3, 1, 0, 15, tzinfo=UTC), datetime(2023, 4, 1, tzinfo=UTC), ZURICH)


def test_etag_matching() -> None:
    tag = 'W/"abc"'
    assert matches('W/"abc"', tag) and matches('"abc"', tag) and matches('"x", W/"abc"', tag) and matches("*", tag)
    assert not matches(None, tag) and not matches('"abd"', tag)
