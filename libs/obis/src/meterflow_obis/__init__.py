"""OBIS codes (IEC 62056-61): parsing, formatting and semantic decoding.

>>> code = parse("0100011D00FF")
>>> code.normalized
'1-0:1.29.0*255'
>>> decode(code).unit
'kWh'
>>> is_valid("FFFFFFFFFFFF")  # parses as 255-255:255.255.255*255, whose groups are reserved
False
"""

from meterflow_obis.catalogue import Direction, Medium, Phase, Quantity, Unit
from meterflow_obis.code import ObisCode, parse
from meterflow_obis.decode import ObisInfo, decode
from meterflow_obis.errors import ObisError
from meterflow_obis.validity import forbids_negative, is_energy, is_valid, validate

__all__ = [
    "Direction",
    "Medium",
    "ObisCode",
    "ObisError",
    "ObisInfo",
    "Phase",
    "Quantity",
    "Unit",
    "decode",
    "forbids_negative",
    "is_energy",
    "is_valid",
    "parse",
    "validate",
]
