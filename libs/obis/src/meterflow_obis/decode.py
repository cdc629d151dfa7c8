"""Semantic decoding of OBIS codes into :class:`ObisInfo`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from meterflow_obis.catalogue import (
    SERVICE_CLASSES,
    Direction,
    Family,
    Kind,
    Medium,
    Phase,
    Quantity,
    QuantitySpec,
    Unit,
    electricity_processing,
    electricity_quantity,
    has_standard_processing,
    medium_label,
    medium_name,
)
from meterflow_obis.code import ObisCode, parse

__all__ = ["ObisInfo", "decode"]

JsonValue = str | int | None


@dataclass(frozen=True, slots=True)
class ObisInfo:
    """What an OBIS code means.

    ``tariff`` is the raw value group E (0 = total, n = tariff rate n for energy and
    demand codes). ``processing`` is None where D is a sub-identifier rather than a
    processing code (C = 0, 96..99, abstract objects). ``unit`` is None when not known;
    power factor has the unit ``"none"``.
    """

    obis: str
    hex: str
    medium: Medium
    channel: int
    quantity: Quantity
    direction: Direction | None
    phase: Phase | None
    processing: str | None
    tariff: int
    billing_period: int | None
    unit: Unit | None
    description: str

    def to_dict(self) -> dict[str, JsonValue]:
        """JSON-ready mapping of all fields (insertion order = field order)."""
        return {
            "obis": self.obis,
            "hex": self.hex,
            "medium": self.medium,
            "channel": self.channel,
            "quantity": self.quantity,
            "direction": self.direction,
            "phase": self.phase,
            "processing": self.processing,
            "tariff": self.tariff,
            "billing_period": self.billing_period,
            "unit": self.unit,
            "description": self.description,
        }


_FAMILY_LABEL: Final[Mapping[Family, str]] = {
    "active": "Active",
    "reactive": "Reactive",
    "apparent": "Apparent",
    "current": "Current",
    "voltage": "Voltage",
    "power_factor": "Power factor",
    "frequency": "Frequency",
}
_ENERGY: Final[Mapping[Family, tuple[Quantity, Unit]]] = {
    "active": ("active_energy", "kWh"),
    "reactive": ("reactive_energy", "kvarh"),
    "apparent": ("apparent_energy", "kVAh"),
}
_POWER: Final[Mapping[Family, tuple[Quantity, Unit]]] = {
    "active": ("active_power", "kW"),
    "reactive": ("reactive_power", "kvar"),
    "apparent": ("apparent_power", "kVA"),
}
_SCALAR: Final[Mapping[Family, tuple[Quantity, Unit]]] = {
    "current": ("current", "A"),
    "voltage": ("voltage", "V"),
    "power_factor": ("power_factor", "none"),
    "frequency": ("frequency", "Hz"),
}


def decode(code: ObisCode | str) -> ObisInfo:
    """Decode a code (or any notation accepted by :func:`parse`).

    Raises :class:`ObisError` only for unparseable text; every valid code decodes,
    codes outside the catalogue with quantity ``"unknown"`` and unit None.
    """
    if isinstance(code, str):
        code = parse(code)
    elif not isinstance(code, ObisCode):
        raise TypeError(f"expected ObisCode or str, got {type(code).__name__}")
    service = SERVICE_CLASSES.get(code.c)
    if service is not None:
        quantity, label = service
        text = f"{medium_label(code.a)} {label} {code.c}.{code.d}.{code.e}"
        return _info(code, quantity, None, None, None, None, _join([text], code))
    if code.a == 1:
        spec = electricity_quantity(code.c)
        if spec is not None:
            return _electricity(code, spec)
        if 128 <= code.c <= 199 or code.c == 240:
            text = f"Electricity manufacturer-specific object C={code.c}, D={code.d}, E={code.e}"
        else:
            text = f"Electricity object {code.c}.{code.d}.{code.e} (not in catalogue)"
        processing = electricity_processing(code.d).name if has_standard_processing(code.c) else "unknown"
        return _info(code, "unknown", None, None, processing, None, _join([text], code))
    processing_or_none = None if code.a == 0 else "unknown"
    text = f"{medium_label(code.a)} object {code.c}.{code.d}.{code.e} (not in catalogue)"
    return _info(code, "unknown", None, None, processing_or_none, None, _join([text], code))


def _electricity(code: ObisCode, spec: QuantitySpec) -> ObisInfo:
    processing = electricity_processing(code.d)
    quantity, unit = _measure(spec.family, processing.kind)
    head = _FAMILY_LABEL[spec.family]
    if spec.family in _POWER and processing.kind is not None:
        head += " energy" if processing.kind == "energy" else " power"
    if spec.direction_text is not None:
        head += f" {spec.direction_text}"
    head += spec.phase_text
    parts = [head]
    if code.e != 0 or (spec.family in _POWER and code.d != 7):
        parts.append("total" if code.e == 0 else f"tariff {code.e}")
    parts.append(processing.label)
    description = _join(parts, code, unit)
    return _info(code, quantity, spec.direction, spec.phase, processing.name, unit, description)


def _measure(family: Family, kind: Kind | None) -> tuple[Quantity, Unit | None]:
    if family in _POWER:
        if kind == "energy":
            return _ENERGY[family]
        if kind == "power":
            return _POWER[family]
        if kind is None:
            return "unknown", None
        return _POWER[family][0], None
    quantity, unit = _SCALAR[family]
    return quantity, unit if kind == "power" else None


def _join(parts: list[str], code: ObisCode, unit: Unit | None = None) -> str:
    if code.b != 0:
        parts.append(f"channel {code.b}")
    if code.f != 255:
        parts.append(f"billing period {code.f}")
    if unit is not None and unit != "none":
        parts.append(unit)
    return ", ".join(parts)


def _info(
    code: ObisCode,
    quantity: Quantity,
    direction: Direction | None,
    phase: Phase | None,
    processing: str | None,
    unit: Unit | None,
    description: str,
) -> ObisInfo:
    return ObisInfo(
        obis=code.normalized,
        hex=code.hex,
        medium=medium_name(code.a),
        channel=code.b,
        quantity=quantity,
        direction=direction,
        phase=phase,
        processing=processing,
        tariff=code.e,
        billing_period=None if code.f == 255 else code.f,
        unit=unit,
        description=description,
    )
