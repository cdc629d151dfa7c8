"""UTC instants from epoch microseconds, through a bounded per-process cache.

Decoding a ``timestamptz`` into a ``datetime`` is the dearest part of fetching a readings page: asyncpg builds
each one in Python-level code (about 0.36 µs, a third of a 3,000-row page's API time, bench/README.md, issue 19).
The readings query therefore returns epoch microseconds (an ``int8`` array decodes at 0.05 µs a value) and this
module turns them into aware UTC datetimes. Meters report on a shared grid (every 15 minutes), so the same
instants recur across meters, pages and requests: a dictionary keeps them, and a warm page costs one look-up
per reading. The cache is emptied when it reaches ``MAX_CACHED`` entries (about 13 MB; 100,000 quarter hours
are 2.8 years), so irregular timestamps cost at most the fill of the page they arrive in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

MAX_CACHED: Final = 100_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_cached: dict[int, datetime] = {}


def utc_instants(micros: Sequence[int]) -> list[datetime]:
    """The aware UTC datetime of every epoch-microsecond value, in order."""
    try:
        return list(map(_cached.__getitem__, micros))  # the warm path: one C-level look-up per value
    except KeyError:
        _remember(micros)
        return list(map(_cached.__getitem__, micros))


def _remember(micros: Sequence[int]) -> None:
    missing = [us for us in micros if us not in _cached]
    if len(_cached) + len(missing) > MAX_CACHED:
        _cached.clear()
        missing = list(micros)
    for us in missing:
        _cached[us] = _EPOCH + timedelta(microseconds=us)
