"""Numbers a person can read: sums and means without binary floating-point noise.

Readings are stored as doubles; a sum of 96 of them is off in the 16th or 17th significant digit (a Zurich
day total of ``1.8298999999999999`` for 1.8299). Every sum, mean and percentile the API returns passes
through ``readable``: rounded to 12 significant digits. Meters deliver at most 6 or 7; the rounding error of
a double sum of n values stays below n * 2^-53 relative (1e-12 for n up to about 4.5 million readings), so
the 12th digit is still exact and the rounding removes only noise. Raw readings are shown as delivered.
"""

from __future__ import annotations

import math
from typing import Final

SIGNIFICANT_DIGITS: Final = 12


def readable(value: float | None) -> float | None:
    """``value`` rounded to 12 significant digits (None, integers, 0, NaN and infinities as they are)."""
    if value is None or isinstance(value, int) or value == 0 or not math.isfinite(value):
        return value
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def readable_all(values: list[float | None]) -> list[float | None]:
    return [readable(value) for value in values]
