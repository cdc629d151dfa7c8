"""The :class:`ObisCode` value type: parsing and formatting (IEC 62056-61).

Accepted notations (surrounding whitespace is ignored):

* 12 hex digits, case-insensitive: ``0100011D00FF``.
* Full form ``A-B:C.D.E*F``; ``&`` or ``.`` may replace ``*``:
  ``1-0:1.29.0*255``, ``1-0:1.29.0&255``, ``1-0:1.29.0.255``.
* Six dot-separated groups ``A.B.C.D.E.F`` (DLMS logical-name style): ``1.0.1.8.0.255``.
* Reduced forms (IEC 62056-21 readout style): ``[[A-]B:]C.D[.E][*F|&F|.F]``, e.g.
  ``1.8.0``, ``1.8.1*01``, ``1-0:1.8.0``, ``0:1.8.0``, ``F.F``.

Defaulting in reduced forms follows the electricity-meter convention of IEC 62056-21
readouts: a missing A is 1 (electricity), a missing B is 0 (no channel), a missing E is
0 (total) and a missing F is 255 (current value, no billing period). ``A-`` may only be
given together with ``B:``. In group C and D the letters ``C``, ``F``, ``L``, ``P``
stand for 96, 97, 98, 99 (``F.F`` = 97.97.0 error register, ``C.1.0`` = 96.1.0).
Abstract (A=0) objects therefore need the full form, e.g. ``0-0:96.1.0``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from meterflow_obis.errors import ObisError

__all__ = [
    "DEFAULT_A",
    "DEFAULT_B",
    "DEFAULT_E",
    "DEFAULT_F",
    "GROUP_NAMES",
    "ObisCode",
    "parse",
]

GROUP_NAMES: Final = ("A", "B", "C", "D", "E", "F")
DEFAULT_A: Final = 1
DEFAULT_B: Final = 0
DEFAULT_E: Final = 0
DEFAULT_F: Final = 255

_LETTERS: Final = {"C": 96, "F": 97, "L": 98, "P": 99}
_NOTATION_CHARS: Final = frozenset("-:.*&")
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_HEX_LENGTH: Final = 12
_MAX_SHOWN: Final = 40

_NUM = r"[0-9]+"
_NUM_OR_LETTER = r"[0-9]+|[A-Za-z]"
_DOTTED6_RE: Final = re.compile(r"\.".join([f"({_NUM})"] * 6))
_REDUCED_RE: Final = re.compile(
    rf"(?:(?:(?P<a>{_NUM})-)?(?P<b>{_NUM}):)?"
    rf"(?P<c>{_NUM_OR_LETTER})\.(?P<d>{_NUM_OR_LETTER})"
    rf"(?:\.(?P<e>{_NUM}))?"
    rf"(?:[*&.](?P<f>{_NUM}))?"
)


@dataclass(frozen=True, slots=True, order=True)
class ObisCode:
    """An OBIS code: six value groups ``A-B:C.D.E*F``, each 0..255."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int

    def __post_init__(self) -> None:
        for name, value in zip(GROUP_NAMES, self.as_tuple(), strict=True):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"group {name} must be an int, got {type(value).__name__}")
            if not 0 <= value <= 255:
                raise ObisError(f"group {name} out of range: {value} (must be 0..255)")

    @classmethod
    def parse(cls, text: str) -> ObisCode:
        """Parse any supported notation; see :func:`meterflow_obis.parse`."""
        return parse(text)

    @classmethod
    def from_bytes(cls, data: bytes) -> ObisCode:
        """Build a code from the 6-byte DLMS logical name."""
        if len(data) != 6:
            raise ObisError(f"wrong length: expected 6 bytes, got {len(data)}")
        return cls(*data)

    def as_tuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.a, self.b, self.c, self.d, self.e, self.f)

    def to_bytes(self) -> bytes:
        return bytes(self.as_tuple())

    @property
    def normalized(self) -> str:
        """Full form, e.g. ``1-0:1.29.0*255``."""
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}*{self.f}"

    @property
    def hex(self) -> str:
        """12 upper-case hex digits, e.g. ``0100011D00FF``."""
        return self.to_bytes().hex().upper()

    def __str__(self) -> str:
        return self.normalized


def parse(text: str) -> ObisCode:
    """Parse an OBIS code from hex, full, six-dotted or reduced notation.

    Raises :class:`ObisError` (a ``ValueError``) with a message naming the problem.
    """
    if not isinstance(text, str):
        raise TypeError(f"OBIS code must be a str, got {type(text).__name__}")
    stripped = text.strip()
    if not stripped:
        raise ObisError("empty OBIS code")
    if _NOTATION_CHARS.isdisjoint(stripped):
        return _parse_hex(stripped)
    return _parse_dotted(stripped)


def _shown(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _parse_hex(text: str) -> ObisCode:
    for position, char in enumerate(text):
        if char not in _HEX_DIGITS:
            raise ObisError(f"not hex: invalid character {char!r} at position {position} in {_shown(text)!r}")
    if len(text) != _HEX_LENGTH:
        raise ObisError(f"wrong length: expected {_HEX_LENGTH} hex digits, got {len(text)} in {_shown(text)!r}")
    return ObisCode(*bytes.fromhex(text))


def _parse_dotted(text: str) -> ObisCode:
    six = _DOTTED6_RE.fullmatch(text)
    if six is not None:
        a, b, c, d, e, f = (_group(name, token, text) for name, token in zip(GROUP_NAMES, six.groups(), strict=True))
        return ObisCode(a, b, c, d, e, f)
    match = _REDUCED_RE.fullmatch(text)
    if match is None:
        raise ObisError(
            f"unparseable OBIS notation {_shown(text)!r}: expected 'A-B:C.D.E*F', "
            "a reduced form such as 'C.D.E' or '1-0:C.D.E', or 12 hex digits"
        )

    def group(name: str, default: int) -> int:
        token = match[name.lower()]
        return default if token is None else _group(name, token, text)

    return ObisCode(
        group("A", DEFAULT_A),
        group("B", DEFAULT_B),
        group("C", 0),
        group("D", 0),
        group("E", DEFAULT_E),
        group("F", DEFAULT_F),
    )


def _group(name: str, token: str, text: str) -> int:
    if token.isalpha():
        value = _LETTERS.get(token.upper())
        if value is None or name not in ("C", "D"):
            raise ObisError(
                f"group {name}: invalid letter {token!r} in {_shown(text)!r} "
                "(only C=96, F=97, L=98, P=99 in groups C and D)"
            )
        return value
    digits = token.lstrip("0") or "0"
    if len(digits) > 3 or int(digits) > 255:
        raise ObisError(f"group {name} out of range: {_shown(digits)} (must be 0..255) in {_shown(text)!r}")
    return int(digits)
