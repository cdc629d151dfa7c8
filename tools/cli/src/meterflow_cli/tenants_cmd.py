"""``meterflow tenants create NAME`` and ``meterflow tenants assign NAME MUID [MUID ...]``: tenants and the
meters they own (tables of migration 0008; each change is written to the audit log)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid

import asyncpg
from meterflow_schema.tenancy import assign_meters, create_tenant

from meterflow_cli.tenancy_io import actor, add_dsn, with_connection


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("tenants", help="tenants and the meters they own")
    sub = parser.add_subparsers(dest="tenants_command", required=True)
    create = sub.add_parser("create", help="create a tenant (idempotent)")
    create.add_argument("name", metavar="NAME", help="a slug: lower-case letters, digits, - and _ (at most 63)")
    add_dsn(create)
    create.set_defaults(func=run_create)
    assign = sub.add_parser("assign", help="make NAME the owner of the meters (moving them from another tenant)")
    assign.add_argument("name", metavar="NAME")
    assign.add_argument("muids", metavar="MUID", nargs="+", type=uuid.UUID)
    add_dsn(assign)
    assign.set_defaults(func=run_assign)


def run_create(args: argparse.Namespace) -> int:
    try:
        created = asyncio.run(with_connection(args.dsn, lambda conn: create_tenant(conn, args.name, actor=actor())))
    except asyncpg.CheckViolationError:
        print(f"{args.name!r} is not a tenant name: use lower-case letters, digits, - and _", file=sys.stderr)
        return 2
    print(f"tenant {args.name} {'created' if created else 'exists already'}")
    return 0


def run_assign(args: argparse.Namespace) -> int:
    async def assign(conn: asyncpg.Connection) -> list[uuid.UUID]:
        return await assign_meters(conn, args.name, args.muids, actor=actor())

    try:
        changed = asyncio.run(with_connection(args.dsn, assign))
    except asyncpg.ForeignKeyViolationError:
        print(f"no tenant {args.name!r}: create it with 'meterflow tenants create {args.name}'", file=sys.stderr)
        return 1
    print(f"tenant {args.name} owns {len(args.muids)} meter(s) ({len(changed)} newly assigned)")
    return 0
