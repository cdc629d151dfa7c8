"""Capped exponential backoff with full jitter."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["backoff_delays"]


def backoff_delays(base: float = 0.2, cap: float = 30.0) -> Iterator[float]:
    """Endless delays: attempt n waits uniformly in [0, min(cap, base * 2**n)] (AWS 'full jitter')."""
    attempt = 0
    while True:
        yield random.uniform(0, min(cap, base * 2**attempt))
        attempt = min(attempt + 1, 30)
