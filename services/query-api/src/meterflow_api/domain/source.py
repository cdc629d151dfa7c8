"""The source company's record format: its timestamps and numbers, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime


def source_timestamp(ts: datetime) -> str:
    """``2023-02-28T23:45:00.000Z``: UTC with milliseconds, as the source API writes it."""
    utc = ts.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def source_number(value: float) -> float | int:
    """Integral values as JSON integers, the rest as the shortest round-trip float: the source files write
    ``0`` (never ``0.0``), so this reproduces them byte for byte."""
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
