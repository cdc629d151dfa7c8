"""Semantic tables for OBIS value groups (IEC 62056-61 / DLMS Blue Book naming).

Only electricity (A=1) physical quantities are catalogued in detail; for every medium
the classes C=0 (general purpose) and C=96..99 (service entries, error objects, lists,
data profiles) are recognised structurally.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "MEDIA",
    "SERVICE_CLASSES",
    "Direction",
    "Family",
    "Kind",
    "Medium",
    "Phase",
    "ProcessingSpec",
    "Quantity",
    "QuantitySpec",
    "Unit",
    "electricity_processing",
    "electricity_quantity",
    "has_standard_processing",
    "medium_label",
    "medium_name",
]

Medium = Literal[
    "abstract",
    "electricity",
    "heat_cost_allocator",
    "cooling",
    "heat",
    "gas",
    "cold_water",
    "hot_water",
    "oil",
    "compressed_air",
    "nitrogen",
    "unknown",
]
Quantity = Literal[
    "active_energy",
    "active_power",
    "reactive_energy",
    "reactive_power",
    "apparent_energy",
    "apparent_power",
    "current",
    "voltage",
    "power_factor",
    "frequency",
    "general_purpose",
    "service",
    "error",
    "list",
    "profile",
    "unknown",
]
Direction = Literal["import", "export", "q1", "q2", "q3", "q4", "absolute", "net"]
Phase = Literal["L1", "L2", "L3", "N", "total"]
Unit = Literal["kWh", "kvarh", "kVAh", "kW", "kvar", "kVA", "V", "A", "Hz", "none"]
Family = Literal["active", "reactive", "apparent", "current", "voltage", "power_factor", "frequency"]
# What value group D yields: a time integral (energy), a power-like value (instantaneous,
# average, minimum, maximum, threshold, magnitude), an event counter or a duration.
Kind = Literal["energy", "power", "count", "duration"]

MEDIA: Final[Mapping[int, Medium]] = {
    0: "abstract",
    1: "electricity",
    4: "heat_cost_allocator",
    5: "cooling",
    6: "heat",
    7: "gas",
    8: "cold_water",
    9: "hot_water",
    16: "oil",
    17: "compressed_air",
    18: "nitrogen",
}


def medium_name(a: int) -> Medium:
    return MEDIA.get(a, "unknown")


def medium_label(a: int) -> str:
    name = medium_name(a)
    if name == "unknown":
        return f"Unknown medium (A={a})"
    return name.replace("_", " ").capitalize()


# C classes that are not measured quantities; D and E are sub-identifiers there.
SERVICE_CLASSES: Final[Mapping[int, tuple[Quantity, str]]] = {
    0: ("general_purpose", "general-purpose object"),
    96: ("service", "service entry"),
    97: ("error", "error/alarm object"),
    98: ("list", "list object"),
    99: ("profile", "data profile"),
}


@dataclass(frozen=True, slots=True)
class QuantitySpec:
    """Meaning of an electricity value group C."""

    family: Family
    direction: Direction | None
    direction_text: str | None
    phase: Phase | None
    phase_text: str


# C = 1..20 (sum over phases); C+20 / C+40 / C+60 are the same for L1 / L2 / L3.
_BASE: Final[Mapping[int, tuple[Family, Direction | None, str | None]]] = {
    1: ("active", "import", "import (+A)"),
    2: ("active", "export", "export (-A)"),
    3: ("reactive", "import", "import (+R)"),
    4: ("reactive", "export", "export (-R)"),
    5: ("reactive", "q1", "QI"),
    6: ("reactive", "q2", "QII"),
    7: ("reactive", "q3", "QIII"),
    8: ("reactive", "q4", "QIV"),
    9: ("apparent", "import", "import"),
    10: ("apparent", "export", "export"),
    11: ("current", None, None),
    12: ("voltage", None, None),
    13: ("power_factor", None, None),
    14: ("frequency", None, None),
    15: ("active", "absolute", "absolute (|+A|+|-A|)"),
    16: ("active", "net", "net (|+A|-|-A|)"),
    17: ("active", "q1", "QI"),
    18: ("active", "q2", "QII"),
    19: ("active", "q3", "QIII"),
    20: ("active", "q4", "QIV"),
}
# Current and voltage with C = 11/12 are "any phase" and frequency C = 14 is the supply
# frequency: none of them is a sum over phases.
_NOT_SUMMED: Final[Mapping[int, str]] = {11: " (any phase)", 12: " (any phase)", 14: ""}
_PHASE_OFFSETS: Final[tuple[tuple[int, Phase], ...]] = ((20, "L1"), (40, "L2"), (60, "L3"))


def _build_electricity() -> dict[int, QuantitySpec]:
    table: dict[int, QuantitySpec] = {}
    for base, (family, direction, text) in _BASE.items():
        if base in _NOT_SUMMED:
            table[base] = QuantitySpec(family, direction, text, None, _NOT_SUMMED[base])
        else:
            table[base] = QuantitySpec(family, direction, text, "total", "")
        for offset, phase in _PHASE_OFFSETS:
            table[base + offset] = QuantitySpec(family, direction, text, phase, f" {phase}")
    table[90] = QuantitySpec("current", None, None, "total", " (sum over phases)")
    table[91] = QuantitySpec("current", None, None, "N", " N (neutral)")
    table[92] = QuantitySpec("voltage", None, None, "N", " N (neutral)")
    return table


_ELECTRICITY_C: Final[Mapping[int, QuantitySpec]] = _build_electricity()


def electricity_quantity(c: int) -> QuantitySpec | None:
    """Meaning of value group C for electricity, or None when not catalogued."""
    return _ELECTRICITY_C.get(c)


@dataclass(frozen=True, slots=True)
class ProcessingSpec:
    """Meaning of an electricity value group D."""

    name: str
    label: str
    kind: Kind | None


_D_ROWS: Final[tuple[tuple[int, str, str, Kind], ...]] = (
    (0, "billing_period_average", "billing-period average", "power"),
    (1, "cumulative_minimum", "cumulative minimum", "power"),
    (2, "cumulative_maximum", "cumulative maximum", "power"),
    (3, "minimum", "minimum", "power"),
    (4, "demand_current_average", "current average demand", "power"),
    (5, "demand_last_average", "last average demand", "power"),
    (6, "demand_maximum", "maximum demand", "power"),
    (7, "instantaneous", "instantaneous", "power"),
    (8, "register", "register", "energy"),
    (9, "time_integral_2", "time integral 2", "energy"),
    (10, "time_integral_3", "time integral 3", "energy"),
    (11, "cumulative_minimum_2", "cumulative minimum 2", "power"),
    (12, "cumulative_maximum_2", "cumulative maximum 2", "power"),
    (13, "minimum_2", "minimum 2", "power"),
    (14, "demand_current_average_2", "current average demand 2", "power"),
    (15, "demand_last_average_2", "last average demand 2", "power"),
    (16, "demand_maximum_2", "maximum demand 2", "power"),
    (21, "cumulative_minimum_3", "cumulative minimum 3", "power"),
    (22, "cumulative_maximum_3", "cumulative maximum 3", "power"),
    (23, "minimum_3", "minimum 3", "power"),
    (24, "demand_current_average_3", "current average demand 3", "power"),
    (25, "demand_last_average_3", "last average demand 3", "power"),
    (26, "demand_maximum_3", "maximum demand 3", "power"),
    (27, "demand_current_average_5", "current average demand 5", "power"),
    (28, "demand_current_average_6", "current average demand 6", "power"),
    (29, "interval_delta", "load-profile interval delta", "energy"),
    (30, "time_integral_6", "time integral 6", "energy"),
    (31, "under_limit_threshold", "under-limit threshold", "power"),
    (32, "under_limit_occurrence_counter", "under-limit occurrence counter", "count"),
    (33, "under_limit_duration", "under-limit duration", "duration"),
    (34, "under_limit_magnitude", "under-limit magnitude", "power"),
    (35, "over_limit_threshold", "over-limit threshold", "power"),
    (36, "over_limit_occurrence_counter", "over-limit occurrence counter", "count"),
    (37, "over_limit_duration", "over-limit duration", "duration"),
    (38, "over_limit_magnitude", "over-limit magnitude", "power"),
    (39, "missing_threshold", "missing-value threshold", "power"),
    (40, "missing_occurrence_counter", "missing-value occurrence counter", "count"),
    (41, "missing_duration", "missing-value duration", "duration"),
    (42, "missing_magnitude", "missing-value magnitude", "power"),
    (51, "minimum_recording_interval_1", "minimum for recording interval 1", "power"),
    (52, "minimum_recording_interval_2", "minimum for recording interval 2", "power"),
    (53, "maximum_recording_interval_1", "maximum for recording interval 1", "power"),
    (54, "maximum_recording_interval_2", "maximum for recording interval 2", "power"),
    (55, "test_average", "test average", "power"),
    (58, "time_integral_4", "time integral 4 (test)", "energy"),
)
_ELECTRICITY_D: Final[Mapping[int, ProcessingSpec]] = {
    d: ProcessingSpec(name, label, kind) for d, name, label, kind in _D_ROWS
}


def has_standard_processing(c: int) -> bool:
    """Whether value group D of an electricity code with this C is a processing code.

    True for the measured quantities C = 1..92 (IEC 62056-61); False for the service
    classes (0, 96..99), consortia/country-specific (93, 94) and reserved or
    manufacturer-specific C.
    """
    return 1 <= c <= 92


def electricity_processing(d: int) -> ProcessingSpec:
    """Meaning of value group D for electricity quantities (never None)."""
    spec = _ELECTRICITY_D.get(d)
    if spec is not None:
        return spec
    if 128 <= d <= 254:
        return ProcessingSpec("manufacturer_specific", f"manufacturer-specific processing (D={d})", None)
    return ProcessingSpec("unknown", f"unknown processing (D={d})", None)
