"""Which OBIS codes a pipeline may store readings under, and which values their readings may take.

Parsing (``code.py``) accepts any six bytes and decoding (``decode.py``) explains any code, so that
``meterflow obis decode`` can show what a strange code means. Storing is stricter: a code whose value
groups the standard reserves (``FFFFFFFFFFFF`` parses as ``255-255:255.255.255*255``) names no channel.
The normalizer and the writer both call :func:`validate` / :func:`is_valid`, so the two stages agree.

Valid means (IEC 62056-61, DLMS Blue Book):

* A (medium) 0..18: 0..15 of IEC 62056-61 and oil, compressed air, nitrogen (16..18) of the Blue Book;
* B (channel) 0..199: 200..255 are reserved;
* C and D not 255 (reserved); E and F may take any value (F = 255 is "no billing period").
"""

from __future__ import annotations

from typing import Final

from meterflow_obis.code import ObisCode, parse
from meterflow_obis.decode import ObisInfo
from meterflow_obis.errors import ObisError

__all__ = ["forbids_negative", "is_energy", "is_valid", "validate"]

MAX_MEDIUM: Final = 18
MAX_CHANNEL: Final = 199
RESERVED: Final = 255
# Processing codes (value group D) whose energy only grows: a register (8) counts up from installation,
# a load-profile interval delta (29) is what was counted during one interval.
_NEVER_NEGATIVE_PROCESSING: Final = frozenset({"register", "interval_delta"})


def validate(code: ObisCode | str) -> ObisCode:
    """Return the parsed code, or raise :class:`ObisError` naming the reserved value group."""
    if isinstance(code, str):
        code = parse(code)
    if code.a > MAX_MEDIUM:
        raise ObisError(f"{code} is not a valid code: medium A={code.a} is reserved (valid: 0..{MAX_MEDIUM})")
    if code.b > MAX_CHANNEL:
        raise ObisError(f"{code} is not a valid code: channel B={code.b} is reserved (valid: 0..{MAX_CHANNEL})")
    if code.c == RESERVED:
        raise ObisError(f"{code} is not a valid code: C=255 is reserved")
    if code.d == RESERVED:
        raise ObisError(f"{code} is not a valid code: D=255 is reserved")
    return code


def is_valid(code: ObisCode | str) -> bool:
    """Whether ``code`` parses and names a valid channel (see the module docstring)."""
    try:
        validate(code)
    except ObisError:
        return False
    return True


def is_energy(info: ObisInfo) -> bool:
    """Energy channels (a time integral: kWh, kvarh, kVAh) are the ones captured on an interval grid."""
    return info.quantity.endswith("_energy")


def forbids_negative(info: ObisInfo) -> bool:
    """Whether a negative reading on this channel is impossible: the energy of a register or of a load-profile
    interval delta, except the net direction (|+A|-|-A|), which is negative whenever export exceeds import."""
    return is_energy(info) and info.processing in _NEVER_NEGATIVE_PROCESSING and info.direction != "net"
