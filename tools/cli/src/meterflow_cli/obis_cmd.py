"""``meterflow obis ...``: OBIS code utilities.

``meterflow obis decode CODE...`` prints one JSON object per code and line on stdout.
Invalid codes are reported as ``error: <code>: <message>`` on stderr; the remaining
codes are still decoded and the command returns 2 if any code failed, else 0.
"""

from __future__ import annotations

import argparse
import json
import sys

from meterflow_obis import ObisError, decode

__all__ = ["EXIT_INVALID", "add_parser", "run_decode"]

EXIT_INVALID = 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``obis`` command group on the top-level ``meterflow`` parser."""
    obis = subparsers.add_parser(
        "obis",
        help="OBIS code utilities (IEC 62056-61)",
        description="OBIS code utilities (IEC 62056-61).",
    )
    commands = obis.add_subparsers(dest="obis_command", metavar="COMMAND", required=True)
    decode_parser = commands.add_parser(
        "decode",
        help="decode OBIS codes to JSON, one object per line",
        description=(
            "Decode OBIS codes given as 12 hex digits (0100011D00FF), full form "
            "(1-0:1.29.0*255) or reduced form (1.8.0; A=1, B=0, E=0, F=255 by default)."
        ),
    )
    decode_parser.add_argument("codes", nargs="+", metavar="CODE", help="OBIS code in any notation")
    decode_parser.set_defaults(func=run_decode)


def run_decode(args: argparse.Namespace) -> int:
    """Decode ``args.codes``; return 0, or 2 if any code was invalid."""
    codes: list[str] = args.codes
    status = 0
    for code in codes:
        try:
            info = decode(code)
        except ObisError as exc:
            sys.stderr.write(f"error: {code}: {exc}\n")
            status = EXIT_INVALID
            continue
        sys.stdout.write(json.dumps(info.to_dict()) + "\n")
    return status
