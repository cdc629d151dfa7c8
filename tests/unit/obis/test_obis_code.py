"""Parsing and formatting of OBIS codes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from meterflow_obis import ObisCode, ObisError, parse

GROUP = st.integers(min_value=0, max_value=255)
CODES = st.builds(ObisCode, GROUP, GROUP, GROUP, GROUP, GROUP, GROUP)
HEX_CHARS = "0123456789abcdefABCDEF"
GROUP_NAMES = "ABCDEF"


@given(CODES)
def test_full_form_round_trip(code: ObisCode) -> None:
    text = code.normalized
    assert re.fullmatch(r"\d{1,3}-\d{1,3}:\d{1,3}\.\d{1,3}\.\d{1,3}\*\d{1,3}", text)
    assert str(code) == text
    assert parse(text) == code
    assert ObisCode.parse(text) == code


@given(CODES)
def test_hex_round_trip(code: ObisCode) -> None:
    text = code.hex
    assert re.fullmatch(r"[0-9A-F]{12}", text)
    assert int(text, 16) == int.from_bytes(bytes(code.as_tuple()), "big")
    assert parse(text) == code
    assert parse(text.lower()) == code
    assert parse(f"  {text}\t\n") == code


@given(CODES)
def test_hex_and_full_form_agree(code: ObisCode) -> None:
    assert parse(parse(code.hex).normalized).hex == code.hex


@given(CODES)
def test_alternative_full_notations(code: ObisCode) -> None:
    a, b, c, d, e, f = code.as_tuple()
    assert parse(f"{a}-{b}:{c}.{d}.{e}&{f}") == code
    assert parse(f"{a}-{b}:{c}.{d}.{e}.{f}") == code
    assert parse(f"{a}.{b}.{c}.{d}.{e}.{f}") == code
    assert parse(f"{a:03d}-{b:03d}:{c:03d}.{d:03d}.{e:03d}*{f:03d}") == code


@given(CODES)
def test_bytes_round_trip(code: ObisCode) -> None:
    assert len(code.to_bytes()) == 6
    assert ObisCode.from_bytes(code.to_bytes()) == code


@given(GROUP, GROUP, GROUP, GROUP)
def test_reduced_form_defaults_a1_b0(c: int, d: int, e: int, f: int) -> None:
    assert parse(f"{c}.{d}.{e}*{f}") == ObisCode(1, 0, c, d, e, f)
    assert parse(f"{c}.{d}.{e}") == ObisCode(1, 0, c, d, e, 255)
    assert parse(f"{c}.{d}") == ObisCode(1, 0, c, d, 0, 255)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.8.0", (1, 0, 1, 8, 0, 255)),
        ("1.29.0", (1, 0, 1, 29, 0, 255)),
        ("1-0:1.8.0", (1, 0, 1, 8, 0, 255)),
        ("1.8.0*255", (1, 0, 1, 8, 0, 255)),
        ("1.8.0.255", (1, 0, 1, 8, 0, 255)),
        ("1.8.1*01", (1, 0, 1, 8, 1, 1)),
        ("1.8.2&12", (1, 0, 1, 8, 2, 12)),
        ("1.8*3", (1, 0, 1, 8, 0, 3)),
        ("1.8", (1, 0, 1, 8, 0, 255)),
        ("2:1.8.0", (1, 2, 1, 8, 0, 255)),
        ("7-3:3.0.0", (7, 3, 3, 0, 0, 255)),
        ("0-0:96.1.0*255", (0, 0, 96, 1, 0, 255)),
        ("1-0:1.29.0*255", (1, 0, 1, 29, 0, 255)),
        ("1.0.2.29.0.255", (1, 0, 2, 29, 0, 255)),
        ("F.F", (1, 0, 97, 97, 0, 255)),
        ("C.1.0", (1, 0, 96, 1, 0, 255)),
        ("P.01", (1, 0, 99, 1, 0, 255)),
        ("l.1", (1, 0, 98, 1, 0, 255)),
        ("  1-0:1.8.0*255\n", (1, 0, 1, 8, 0, 255)),
        ("0100011d00ff", (1, 0, 1, 29, 0, 255)),
        ("0100021D00FF", (1, 0, 2, 29, 0, 255)),
    ],
)
def test_parse_notations(text: str, expected: tuple[int, ...]) -> None:
    assert parse(text).as_tuple() == expected


def test_formatting_of_known_code() -> None:
    code = ObisCode(1, 0, 1, 29, 0, 255)
    assert code.normalized == "1-0:1.29.0*255"
    assert code.hex == "0100011D00FF"
    assert str(code) == "1-0:1.29.0*255"
    assert ObisCode(0, 0, 0, 0, 0, 0).hex == "000000000000"


def test_codes_are_hashable_and_ordered() -> None:
    codes = [parse("2.8.0"), parse("1.8.1"), parse("0100010800FF")]
    assert sorted(codes) == [parse("1.8.0"), parse("1.8.1"), parse("2.8.0")]
    assert len({*codes, parse("1-0:1.8.0*255")}) == 3


def test_obis_error_is_value_error() -> None:
    assert issubclass(ObisError, ValueError)
    with pytest.raises(ValueError, match="empty"):
        parse("")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty OBIS code"),
        ("   \t", "empty OBIS code"),
        ("0100011D00F", "wrong length: expected 12 hex digits, got 11"),
        ("0100011D00FF00", "wrong length: expected 12 hex digits, got 14"),
        ("180", "wrong length: expected 12 hex digits, got 3"),
        ("0100011D00FG", "not hex: invalid character 'G' at position 11"),
        ("0x0100011D00", "not hex: invalid character 'x' at position 1"),
        ("01 00 01 1D 00 FF", "not hex: invalid character ' ' at position 2"),
        ("hello", "not hex"),
        ("1.256.0", "group D out of range: 256"),
        ("1-0:1.8.0*300", "group F out of range: 300"),
        ("256-0:1.8.0*255", "group A out of range: 256"),
        ("1-999:1.8.0", "group B out of range: 999"),
        ("1.8.1000", "group E out of range: 1000"),
        ("1.0.1.8.0.1234567", "group F out of range: 1234567"),
        ("1.8.0.0.0", "unparseable OBIS notation"),
        ("1..8", "unparseable OBIS notation"),
        ("1.8.0x", "unparseable OBIS notation"),
        ("1-1.8.0", "unparseable OBIS notation"),
        ("1-0:1.8.0 *255", "unparseable OBIS notation"),
        ("-1.8.0", "unparseable OBIS notation"),
        ("1.-8.0", "unparseable OBIS notation"),
        ("1", "wrong length"),
        ("X.1.0", "group C: invalid letter 'X'"),
    ],
)
def test_rejects_invalid(text: str, message: str) -> None:
    with pytest.raises(ObisError, match=re.escape(message)):
        parse(text)


@given(st.text(alphabet=HEX_CHARS, min_size=1, max_size=40).filter(lambda s: len(s) != 12))
def test_rejects_wrong_hex_length(text: str) -> None:
    with pytest.raises(ObisError, match=rf"wrong length: expected 12 hex digits, got {len(text)}\b"):
        parse(text)


@given(
    st.text(alphabet=HEX_CHARS, min_size=12, max_size=12),
    st.integers(min_value=0, max_value=11),
    st.sampled_from("gGzZxXhH!#$%?/+_=~"),
)
def test_rejects_non_hex(text: str, position: int, bad: str) -> None:
    candidate = text[:position] + bad + text[position + 1 :]
    with pytest.raises(ObisError, match=re.escape(f"not hex: invalid character {bad!r} at position {position}")):
        parse(candidate)


@given(
    st.lists(GROUP, min_size=6, max_size=6),
    st.integers(min_value=0, max_value=5),
    st.integers(min_value=256, max_value=10**9),
)
def test_rejects_out_of_range_group_in_dotted_forms(groups: list[int], index: int, bad: int) -> None:
    groups[index] = bad
    a, b, c, d, e, f = groups
    name = GROUP_NAMES[index]
    for text in (f"{a}-{b}:{c}.{d}.{e}*{f}", f"{a}.{b}.{c}.{d}.{e}.{f}", f"{a}-{b}:{c}.{d}.{e}&{f}"):
        with pytest.raises(ObisError, match=re.escape(f"group {name} out of range: {bad} (must be 0..255)")):
            parse(text)


def test_huge_group_value_is_reported_not_crashing() -> None:
    with pytest.raises(ObisError, match="group D out of range"):
        parse("1." + "9" * 5000 + ".0")


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("value", [-1, 256, 1000])
def test_constructor_rejects_out_of_range(index: int, value: int) -> None:
    groups = [1, 0, 1, 8, 0, 255]
    groups[index] = value
    with pytest.raises(ObisError, match=f"group {GROUP_NAMES[index]} out of range: {value}"):
        ObisCode(*groups)


def test_constructor_rejects_non_int() -> None:
    with pytest.raises(TypeError, match="group A must be an int"):
        ObisCode(True, 0, 1, 8, 0, 255)
    with pytest.raises(TypeError, match="group C must be an int"):
        ObisCode(1, 0, "1", 8, 0, 255)  # type: ignore[arg-type]


def test_from_bytes_rejects_wrong_length() -> None:
    with pytest.raises(ObisError, match="expected 6 bytes, got 5"):
        ObisCode.from_bytes(b"\x01\x00\x01\x08\x00")


def test_parse_rejects_non_str() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        parse(b"0100011D00FF")  # type: ignore[arg-type]


def test_code_is_frozen() -> None:
    code = parse("1.8.0")
    with pytest.raises(AttributeError):
        code.a = 2  # type: ignore[misc]
