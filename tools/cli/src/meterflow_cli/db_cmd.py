"""``meterflow db migrate [--dsn DSN]``: apply the schema migrations packaged in meterflow_schema."""

from __future__ import annotations

import argparse
import os

from meterflow_schema.migrate import DEFAULT_DSN, run


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="the PostgreSQL/TimescaleDB schema")
    sub = parser.add_subparsers(dest="db_command", required=True)
    migrate = sub.add_parser("migrate", help="apply the migrations not applied yet (idempotent)")
    migrate.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN), help="default: $DATABASE_URL")
    migrate.set_defaults(func=run_migrate)


def run_migrate(args: argparse.Namespace) -> int:
    return run(args.dsn)
