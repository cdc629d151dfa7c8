"""Capped exponential backoff with full jitter, and the error base class that says what is retriable."""

from __future__ import annotations

import random
from collections.abc import Iterator


class MeterflowError(Exception):
    """Base of every service's errors. ``retriable`` tells the caller whether trying again can help."""

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable


def backoff_delays(base: float = 0.2, cap: float = 30.0) -> Iterator[float]:
    """Endless delays: attempt n waits uniformly in [0, min(cap, base * 2**n)] (AWS 'full jitter')."""
    attempt = 0
    while True:
        yield random.uniform(0, min(cap, base * 2**attempt))
        attempt = min(attempt + 1, 30)
