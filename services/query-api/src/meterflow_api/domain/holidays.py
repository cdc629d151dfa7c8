"""Public holidays and day types: which local dates a ``day_type`` filter keeps.

The holidays come from the maintained ``holidays`` package (country and subdivision, ISO 3166: ``CH``,
``CH-ZH``, ``DE-BY``); tariffs share this module to count holidays as their low band. Day types are the
source system's weekday_only/weekend_only plus holidays, judged by the local date in the requested zone:

- ``all``: every day;
- ``weekday``: Monday to Friday, ``weekend``: Saturday and Sunday (holidays are not taken out, as in the
  source system);
- ``holiday``: the region's public holidays, whatever the weekday.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import holidays as holidays_lib

from meterflow_api.domain.params import quoted
from meterflow_api.errors import ParamError

DAY_TYPES: Final = ("all", "weekday", "weekend", "holiday")
DEFAULT_REGION: Final = "CH-ZH"


@dataclass(frozen=True, slots=True)
class Region:
    """Where public holidays are taken from: a country and optionally one of its subdivisions."""

    country: str
    subdivision: str | None = None

    @property
    def code(self) -> str:
        return self.country if self.subdivision is None else f"{self.country}-{self.subdivision}"


@functools.lru_cache(maxsize=1)
def _supported() -> dict[str, list[str]]:
    # Cached: the package builds this table anew on every call (about 5 ms).
    return dict(holidays_lib.list_supported_countries())


@functools.lru_cache(maxsize=256)
def parse_region(text: str) -> Region:
    """``CH`` or ``CH-ZH`` (ISO 3166-1 alpha-2, then an ISO 3166-2 subdivision the holidays package knows)."""
    country, _, subdivision = text.strip().upper().partition("-")
    supported = _supported()
    if country not in supported:
        raise ParamError(f"unknown holiday country {quoted(text)}: use an ISO 3166 code such as CH or CH-ZH")
    if subdivision and subdivision not in supported[country]:
        raise ParamError(
            f"unknown subdivision {quoted(subdivision)} of {country}: use one of {', '.join(supported[country])}"
        )
    return Region(country, subdivision or None)


def parse_day_type(text: str) -> str:
    if text not in DAY_TYPES:
        raise ParamError(f"unknown day_type {quoted(text)}: use one of {', '.join(DAY_TYPES)}")
    return text


@functools.lru_cache(maxsize=256)
def _holidays_of_year(region: Region, year: int) -> dict[date, str]:
    found = holidays_lib.country_holidays(region.country, subdiv=region.subdivision, years=year)
    return dict(found.items())


def public_holidays(region: Region, first: date, last: date) -> dict[date, str]:
    """The region's public holidays from ``first`` to ``last`` (inclusive), with their names."""
    found = {
        day: name
        for year in range(first.year, last.year + 1)
        for day, name in _holidays_of_year(region, year).items()
        if first <= day <= last
    }
    return dict(sorted(found.items()))


def is_holiday(region: Region, day: date) -> bool:
    return day in _holidays_of_year(region, day.year)


def _days(first: date, last: date) -> Iterator[date]:
    for offset in range((last - first).days + 1):
        yield first + timedelta(days=offset)


def selected_dates(day_type: str, region: Region, first: date, last: date) -> list[date] | None:
    """The local dates from ``first`` to ``last`` that ``day_type`` keeps; None for ``all`` (no filter)."""
    if day_type == "all":
        return None
    if day_type == "holiday":
        return sorted(public_holidays(region, first, last))
    weekend = day_type == "weekend"
    return [day for day in _days(first, last) if (day.weekday() >= 5) == weekend]


def day_kind(day: date, region: Region) -> str:
    """``holiday``, ``weekend`` or ``weekday`` (a holiday first) — the label insights show per day."""
    if is_holiday(region, day):
        return "holiday"
    return "weekend" if day.weekday() >= 5 else "weekday"


def dates_in_range(day_type: str, region: Region, start: datetime, end: datetime, zone: ZoneInfo) -> list[date] | None:
    """The local dates of [start, end) in ``zone`` that ``day_type`` keeps; None for every day."""
    if day_type == "all":
        return None
    first = start.astimezone(zone).date()
    last = (end - timedelta(microseconds=1)).astimezone(zone).date()
    return selected_dates(day_type, region, first, last)
