"""The `meterflow` CLI: demo data, topics, database migrations, OBIS decoding, tenants and API keys, sites,
meter erasure, the exploration report, and for the on-call the dead letters (`dlq`) and one screen of the
pipeline's state (`status`).

Examples: ``meterflow demo-data --meters 20 --bucket meterflow-raw``,
``meterflow topics create``, ``meterflow db migrate``, ``meterflow obis decode 0100011D00FF 1.8.0``,
``meterflow sites create home-1 --tenant demo --import MUID --export MUID``,
``meterflow tenants create acme``, ``meterflow keys create acme --expires 90``.
"""

from __future__ import annotations

import argparse
import sys

from meterflow_kit.logs import configure_logging

from meterflow_cli import (
    db_cmd,
    demo_cmd,
    dlq_cmd,
    explore_cmd,
    keys_cmd,
    meters_cmd,
    obis_cmd,
    sites_cmd,
    status_cmd,
    tenants_cmd,
    topics_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meterflow", description="Meterflow developer tasks.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo_cmd.add_parser(sub)
    topics_cmd.add_parser(sub)
    db_cmd.add_parser(sub)
    obis_cmd.add_parser(sub)
    tenants_cmd.add_parser(sub)
    keys_cmd.add_parser(sub)
    explore_cmd.add_parser(sub)
    sites_cmd.add_parser(sub)
    meters_cmd.add_parser(sub)
    dlq_cmd.add_parser(sub)
    status_cmd.add_parser(sub)
    return parser


def cli(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging("cli", "INFO")
    code: int = args.func(args)
    return code


def main() -> None:
    sys.exit(cli())


if __name__ == "__main__":
    main()
