"""Which codes name a channel that may be stored, and which readings may not be negative."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from meterflow_obis import ObisCode, ObisError, decode, forbids_negative, is_energy, is_valid, validate

GROUP = st.integers(min_value=0, max_value=255)


@pytest.mark.parametrize(
    "text",
    ["0100011D00FF", "1-0:1.8.0*255", "0100021D00FF", "0-0:96.1.0*255", "1-0:1.7.0", "9-199:254.254.255*255", "F.F"],
)
def test_valid_codes(text: str) -> None:
    assert is_valid(text)
    assert validate(text) == ObisCode.parse(text)


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("FFFFFFFFFFFF", "A=255"),
        ("19-0:1.8.0*255", "A=19"),
        ("1-200:1.8.0*255", "B=200"),
        ("1-0:255.8.0*255", "C=255"),
        ("1-0:1.255.0*255", "D=255"),
    ],
)
def test_reserved_groups_make_a_code_invalid(text: str, group: str) -> None:
    assert not is_valid(text)
    with pytest.raises(ObisError, match=group):
        validate(text)


def test_unparseable_text_is_not_valid() -> None:
    assert not is_valid("not obis")
    with pytest.raises(ObisError):
        validate("01000G1D00FF")


@given(GROUP, GROUP, GROUP, GROUP, GROUP, GROUP)
def test_validity_is_the_documented_rule(a: int, b: int, c: int, d: int, e: int, f: int) -> None:
    code = ObisCode(a, b, c, d, e, f)
    assert is_valid(code) == (a <= 18 and b <= 199 and c != 255 and d != 255)
    # The text forms of a code agree with the code itself.
    assert is_valid(code.hex) == is_valid(code.normalized) == is_valid(code)


@pytest.mark.parametrize(
    ("text", "energy", "never_negative"),
    [
        ("0100011D00FF", True, True),  # active import, load-profile interval delta
        ("0100020800FF", True, True),  # active export register
        ("0100030800FF", True, True),  # reactive import register
        ("0100100800FF", True, False),  # active net register: negative when exporting
        ("0100010900FF", True, False),  # time integral 2: not a register or an interval delta
        ("0100010700FF", False, False),  # instantaneous active power
        ("01000C0700FF", False, False),  # voltage
    ],
)
def test_energy_and_never_negative_channels(text: str, energy: bool, never_negative: bool) -> None:
    info = decode(text)
    assert is_energy(info) is energy
    assert forbids_negative(info) is never_negative
