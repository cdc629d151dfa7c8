"""Exception raised for malformed or out-of-range OBIS codes."""

from __future__ import annotations

__all__ = ["ObisError"]


class ObisError(ValueError):
    """An OBIS code could not be parsed or is out of range.

    The message states what is wrong (empty input, wrong length, not hex,
    group out of range, unparseable notation) and quotes the offending text.
    """
