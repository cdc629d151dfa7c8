"""Whether a parsed OBIS code is a valid code rather than six bytes that merely parse.

Minimal rules (IEC 62056-61): group A names the medium, 0..15 (1 = electricity); 255 in group C or D
means "not used", which no measured channel can be (``FFFFFFFFFFFF`` parses as 255-255:255.255.255*255).
"""

from __future__ import annotations

from meterflow_obis.code import ObisCode

MAX_MEDIUM = 15
UNUSED = 255


def is_valid(code: ObisCode) -> bool:
    """True when ``code`` can name a real channel."""
    return code.a <= MAX_MEDIUM and code.c != UNUSED and code.d != UNUSED
