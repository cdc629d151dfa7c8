"""``meterflow explore [MUID ...] [--site SITE] [--start --end --tz] --out report.html [--json]``.

Reads the meters' channels and readings from the database (DATABASE_URL, default the local stack),
analyses each channel (:mod:`meterflow_cli.explore.analysis`) and writes a self-contained HTML report, or
with ``--json`` the same findings and figures as JSON (to ``--out``, or standard output without it).
Two meters of one installation (an import and an export meter), or a site's grid and production channels
(``--site``, a site of ``meterflow sites create``), are analysed together as well.
Exit codes: 0 written, 2 bad arguments, 3 nothing to explore (no channel or no reading in the period).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import date, datetime, time
from pathlib import Path
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from meterflow_schema.migrate import DEFAULT_DSN

from meterflow_cli.explore.analysis import analyse_channel
from meterflow_cli.explore.data import NoData, load
from meterflow_cli.explore.report import Exploration, as_html, as_json

log = structlog.get_logger("meterflow.cli.explore")
EXIT_USAGE = 2
EXIT_NO_DATA = 3


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explore",
        help="an exploration report of a meter's load curve (HTML or JSON)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("muids", nargs="*", type=UUID, metavar="MUID", help="the meter (and e.g. its export meter)")
    parser.add_argument("--site", help="a site: its import, export and production channels")
    parser.add_argument("--start", help="first day or date-time, in --tz (default: the first reading)")
    parser.add_argument("--end", help="end, exclusive, in --tz (default: after the last reading)")
    parser.add_argument("--tz", default="UTC", help="IANA zone of days, hours and weekdays (default UTC)")
    parser.add_argument("--out", type=Path, help="the file to write (required for HTML)")
    parser.add_argument("--json", action="store_true", help="the findings and figures as JSON")
    parser.add_argument("--dsn", default=None, help="default: $DATABASE_URL, else the local stack")
    parser.set_defaults(func=run_explore)


def run_explore(args: argparse.Namespace) -> int:
    try:
        zone = ZoneInfo(args.tz)
        start, end = _moment(args.start, zone), _moment(args.end, zone)
    except (ValueError, ZoneInfoNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not args.muids and args.site is None:
        print("error: name a meter (MUID) or a site (--site SITE)", file=sys.stderr)
        return EXIT_USAGE
    if not args.json and args.out is None:
        print("error: --out report.html is required (or --json for standard output)", file=sys.stderr)
        return EXIT_USAGE
    dsn = args.dsn or _database_url()
    try:
        loaded = asyncio.run(load(dsn, list(dict.fromkeys(args.muids)), start, end, args.site))
    except NoData as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NO_DATA
    exploration = Exploration.of([analyse_channel(channel, series, args.tz) for channel, series in loaded])
    text = json.dumps(as_json(exploration), indent=2) if args.json else as_html(exploration)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        log.info("report written", path=str(args.out), channels=len(exploration.channels))
    return 0


def _database_url() -> str:
    return os.environ.get("DATABASE_URL", DEFAULT_DSN)


def _moment(text: str | None, zone: ZoneInfo) -> datetime | None:
    """A date (midnight) or date-time; without an offset it is read in ``zone``."""
    if text is None:
        return None
    try:
        moment = datetime.combine(date.fromisoformat(text), time())
    except ValueError:
        moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
