"""Semantic decoding of OBIS codes."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from meterflow_obis import ObisCode, ObisError, ObisInfo, decode, parse

GROUP = st.integers(min_value=0, max_value=255)
CODES = st.builds(ObisCode, GROUP, GROUP, GROUP, GROUP, GROUP, GROUP)
KEYS = [
    "obis",
    "hex",
    "medium",
    "channel",
    "quantity",
    "direction",
    "phase",
    "processing",
    "tariff",
    "billing_period",
    "unit",
    "description",
]


@pytest.mark.parametrize(
    ("text", "quantity", "direction", "unit", "phase", "processing"),
    [
        ("1.8.0", "active_energy", "import", "kWh", "total", "register"),
        ("2.8.0", "active_energy", "export", "kWh", "total", "register"),
        ("1.29.0", "active_energy", "import", "kWh", "total", "interval_delta"),
        ("2.29.0", "active_energy", "export", "kWh", "total", "interval_delta"),
        ("0100011D00FF", "active_energy", "import", "kWh", "total", "interval_delta"),
        ("0100021D00FF", "active_energy", "export", "kWh", "total", "interval_delta"),
        ("3.29.0", "reactive_energy", "import", "kvarh", "total", "interval_delta"),
        ("4.8.0", "reactive_energy", "export", "kvarh", "total", "register"),
        ("5.8.0", "reactive_energy", "q1", "kvarh", "total", "register"),
        ("6.8.0", "reactive_energy", "q2", "kvarh", "total", "register"),
        ("7.8.0", "reactive_energy", "q3", "kvarh", "total", "register"),
        ("8.8.0", "reactive_energy", "q4", "kvarh", "total", "register"),
        ("9.8.0", "apparent_energy", "import", "kVAh", "total", "register"),
        ("10.29.0", "apparent_energy", "export", "kVAh", "total", "interval_delta"),
        ("1.7.0", "active_power", "import", "kW", "total", "instantaneous"),
        ("2.7.0", "active_power", "export", "kW", "total", "instantaneous"),
        ("3.7.0", "reactive_power", "import", "kvar", "total", "instantaneous"),
        ("9.7.0", "apparent_power", "import", "kVA", "total", "instantaneous"),
        ("21.7.0", "active_power", "import", "kW", "L1", "instantaneous"),
        ("41.7.0", "active_power", "import", "kW", "L2", "instantaneous"),
        ("61.7.0", "active_power", "import", "kW", "L3", "instantaneous"),
        ("22.7.0", "active_power", "export", "kW", "L1", "instantaneous"),
        ("42.8.0", "active_energy", "export", "kWh", "L2", "register"),
        ("63.7.0", "reactive_power", "import", "kvar", "L3", "instantaneous"),
        ("29.7.0", "apparent_power", "import", "kVA", "L1", "instantaneous"),
        ("31.7.0", "current", None, "A", "L1", "instantaneous"),
        ("51.7.0", "current", None, "A", "L2", "instantaneous"),
        ("71.7.0", "current", None, "A", "L3", "instantaneous"),
        ("11.7.0", "current", None, "A", None, "instantaneous"),
        ("91.7.0", "current", None, "A", "N", "instantaneous"),
        ("32.7.0", "voltage", None, "V", "L1", "instantaneous"),
        ("52.7.0", "voltage", None, "V", "L2", "instantaneous"),
        ("72.7.0", "voltage", None, "V", "L3", "instantaneous"),
        ("13.7.0", "power_factor", None, "none", "total", "instantaneous"),
        ("33.7.0", "power_factor", None, "none", "L1", "instantaneous"),
        ("53.7.0", "power_factor", None, "none", "L2", "instantaneous"),
        ("73.7.0", "power_factor", None, "none", "L3", "instantaneous"),
        ("14.7.0", "frequency", None, "Hz", None, "instantaneous"),
        ("15.8.0", "active_energy", "absolute", "kWh", "total", "register"),
        ("16.8.0", "active_energy", "net", "kWh", "total", "register"),
        ("17.8.0", "active_energy", "q1", "kWh", "total", "register"),
        ("1.6.0", "active_power", "import", "kW", "total", "demand_maximum"),
        ("1.4.0", "active_power", "import", "kW", "total", "demand_current_average"),
        ("1.5.0", "active_power", "import", "kW", "total", "demand_last_average"),
        ("1.3.0", "active_power", "import", "kW", "total", "minimum"),
        ("1.8.1", "active_energy", "import", "kWh", "total", "register"),
        ("1.8.2", "active_energy", "import", "kWh", "total", "register"),
    ],
)
def test_common_codes(
    text: str, quantity: str, direction: str | None, unit: str | None, phase: str | None, processing: str
) -> None:
    info = decode(text)
    assert info.medium == "electricity"
    assert info.quantity == quantity
    assert info.direction == direction
    assert info.unit == unit
    assert info.phase == phase
    assert info.processing == processing


def test_interval_delta_import_full_info() -> None:
    info = decode("0100011D00FF")
    assert info.to_dict() == {
        "obis": "1-0:1.29.0*255",
        "hex": "0100011D00FF",
        "medium": "electricity",
        "channel": 0,
        "quantity": "active_energy",
        "direction": "import",
        "phase": "total",
        "processing": "interval_delta",
        "tariff": 0,
        "billing_period": None,
        "unit": "kWh",
        "description": "Active energy import (+A), total, load-profile interval delta, kWh",
    }


def test_export_is_active_not_reactive() -> None:
    info = decode("0100021D00FF")
    assert info.obis == "1-0:2.29.0*255"
    assert info.description == "Active energy export (-A), total, load-profile interval delta, kWh"


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("1.8.1", "Active energy import (+A), tariff 1, register, kWh"),
        ("1.6.0", "Active power import (+A), total, maximum demand, kW"),
        ("1.7.0", "Active power import (+A), instantaneous, kW"),
        ("5.8.0", "Reactive energy QI, total, register, kvarh"),
        ("32.7.0", "Voltage L1, instantaneous, V"),
        ("13.7.0", "Power factor, instantaneous"),
        ("1-2:2.8.0*7", "Active energy export (-A), total, register, channel 2, billing period 7, kWh"),
    ],
)
def test_descriptions(text: str, description: str) -> None:
    assert decode(text).description == description


def test_tariff_and_billing_period() -> None:
    assert decode("1.8.2").tariff == 2
    assert decode("1.8.0").tariff == 0
    assert decode("1.8.0").billing_period is None
    assert decode("1-0:1.8.0*12").billing_period == 12
    assert decode("1-0:1.8.0*0").billing_period == 0
    assert decode("1-3:1.8.0").channel == 3


@pytest.mark.parametrize("d", [8, 9, 10, 29, 30, 58])
@pytest.mark.parametrize(
    ("c", "quantity", "unit"),
    [(1, "active_energy", "kWh"), (4, "reactive_energy", "kvarh"), (10, "apparent_energy", "kVAh")],
)
def test_time_integrals_are_energy(c: int, d: int, quantity: str, unit: str) -> None:
    info = decode(ObisCode(1, 0, c, d, 0, 255))
    assert (info.quantity, info.unit) == (quantity, unit)


@pytest.mark.parametrize("d", [0, 1, 2, 3, 4, 5, 6, 7, 14, 16, 26, 27, 55])
@pytest.mark.parametrize(
    ("c", "quantity", "unit"),
    [(2, "active_power", "kW"), (3, "reactive_power", "kvar"), (9, "apparent_power", "kVA")],
)
def test_demand_and_instantaneous_are_power(c: int, d: int, quantity: str, unit: str) -> None:
    info = decode(ObisCode(1, 0, c, d, 0, 255))
    assert (info.quantity, info.unit) == (quantity, unit)


@given(st.integers(min_value=1, max_value=20), st.sampled_from([7, 8, 29, 6]))
def test_phase_variants_mirror_the_sum_codes(base: int, d: int) -> None:
    total = decode(ObisCode(1, 0, base, d, 0, 255))
    for offset, phase in ((20, "L1"), (40, "L2"), (60, "L3")):
        info = decode(ObisCode(1, 0, base + offset, d, 0, 255))
        assert info.phase == phase
        assert (info.quantity, info.direction, info.unit) == (total.quantity, total.direction, total.unit)
        assert f" {phase}" in info.description


def test_counters_and_durations_have_no_power_unit() -> None:
    counter = decode("32.36.0")
    assert (counter.quantity, counter.processing, counter.unit) == (
        "voltage",
        "over_limit_occurrence_counter",
        None,
    )
    duration = decode("1.33.0")
    assert (duration.quantity, duration.processing, duration.unit) == (
        "active_power",
        "under_limit_duration",
        None,
    )


@pytest.mark.parametrize(
    ("text", "medium", "quantity"),
    [
        ("0-0:96.1.0", "abstract", "service"),
        ("1-0:0.9.1", "electricity", "general_purpose"),
        ("F.F", "electricity", "error"),
        ("1-0:98.1.0", "electricity", "list"),
        ("1-0:99.1.0", "electricity", "profile"),
        ("7-0:99.1.0", "gas", "profile"),
    ],
)
def test_service_classes(text: str, medium: str, quantity: str) -> None:
    info = decode(text)
    assert (info.medium, info.quantity) == (medium, quantity)
    assert (info.direction, info.phase, info.processing, info.unit) == (None, None, None, None)


@pytest.mark.parametrize(
    ("text", "medium", "processing"),
    [
        ("7-0:3.0.0*255", "gas", "unknown"),
        ("8-0:1.0.0", "cold_water", "unknown"),
        ("6-0:1.8.0", "heat", "unknown"),
        ("5-0:1.8.0", "cooling", "unknown"),
        ("42-0:1.8.0", "unknown", "unknown"),
        ("0-0:1.0.0", "abstract", None),
        ("1-0:200.8.0", "electricity", "unknown"),
        ("1-0:82.8.0", "electricity", "register"),
        ("1-0:255.255.255*255", "electricity", "unknown"),
    ],
)
def test_outside_catalogue_decodes_structurally(text: str, medium: str, processing: str | None) -> None:
    info = decode(text)
    assert info.medium == medium
    assert info.quantity == "unknown"
    assert info.unit is None
    assert info.processing == processing
    assert info.obis == parse(text).normalized


def test_unknown_processing_on_known_quantity() -> None:
    info = decode("1.200.0")
    assert (info.quantity, info.direction, info.phase, info.unit) == ("unknown", "import", "total", None)
    assert info.processing == "manufacturer_specific"
    assert decode("1.100.0").processing == "unknown"


@given(CODES)
def test_every_valid_code_decodes(code: ObisCode) -> None:
    info = decode(code)
    assert info == decode(code.hex) == decode(code.normalized)
    data = info.to_dict()
    assert list(data) == KEYS
    assert json.loads(json.dumps(data)) == data
    assert info.obis == code.normalized
    assert info.hex == code.hex
    assert info.tariff == code.e
    assert info.channel == code.b
    assert info.billing_period == (None if code.f == 255 else code.f)
    assert info.description
    if info.quantity == "unknown":
        assert info.unit is None


def test_info_is_frozen_with_slots() -> None:
    info = decode("1.8.0")
    assert isinstance(info, ObisInfo)
    assert not hasattr(info, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.unit = "kW"  # type: ignore[misc]


def test_decode_rejects_invalid_text() -> None:
    with pytest.raises(ObisError, match="not hex"):
        decode("nonsense")
    with pytest.raises(TypeError):
        decode(42)  # type: ignore[arg-type]
