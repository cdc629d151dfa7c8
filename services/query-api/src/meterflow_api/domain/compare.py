"""Comparisons (``compare=previous|year``): the period to compare a range with, and the differences.

``previous``: the period of equal wall-clock length just before (February 2023 compares with the 28 days
before it, 2023-01-04 to 2023-02-01); ``year``: the same wall-clock dates a year before (29 February
becomes the 28th). Both are computed on the wall clock of the request's zone, so a period across a DST
change compares with whole local days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from meterflow_api.domain.numbers import readable
from meterflow_api.domain.params import quoted
from meterflow_api.errors import ParamError

COMPARE_MODES: Final = ("previous", "year")


def parse_compare(text: str) -> str:
    if text not in COMPARE_MODES:
        raise ParamError(f"unknown compare {quoted(text)}: use previous or year")
    return text


def _local(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _utc(local: datetime, zone: ZoneInfo) -> datetime:
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _year_before(local: datetime) -> datetime:
    if local.month == 2 and local.day == 29:
        return local.replace(year=local.year - 1, day=28)
    return local.replace(year=local.year - 1)


def comparison_range(mode: str, start: datetime, end: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The range [start, end) is compared with, in UTC."""
    lo, hi = _local(start, zone), _local(end, zone)
    if mode == "year":
        return _utc(_year_before(lo), zone), _utc(_year_before(hi), zone)
    return _utc(lo - (hi - lo), zone), _utc(lo, zone)


def differences(current: Mapping[str, Any], previous: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """Per key: absolute (current - previous) and relative (that / previous) difference; None where a side
    is missing or the previous value is 0."""
    found: dict[str, Any] = {}
    for key in keys:
        now, before = current.get(key), previous.get(key)
        if now is None or before is None:
            found[key] = {"absolute": None, "relative": None}
            continue
        absolute = now - before
        relative = None if before == 0 else absolute / before
        found[key] = {"absolute": readable(absolute), "relative": readable(relative)}
    return found
