"""``meterflow keys create NAME [--admin] [--expires DAYS] [--label LABEL]``, ``meterflow keys list [NAME]``,
``meterflow keys revoke KEY_PREFIX``: API keys of the query API (table api_keys, migration 0008).

``create`` prints the new key alone on the last line of its standard output, once: only its SHA-256 is
stored. ``list`` never shows a secret (it cannot). Creation and revocation are written to the audit log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime, timedelta

import asyncpg
from meterflow_schema.tenancy import KeyInfo, NewKey, create_key, list_keys, revoke_key

from meterflow_cli.tenancy_io import actor, add_dsn, with_connection


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("keys", help="API keys of the query API")
    sub = parser.add_subparsers(dest="keys_command", required=True)
    create = sub.add_parser("create", help="create a key of tenant NAME; prints it alone on the last line")
    create.add_argument("name", metavar="NAME", help="the tenant")
    create.add_argument("--admin", action="store_true", help="admin scope: reads every tenant's meters")
    create.add_argument("--expires", metavar="DAYS", type=_days, help="expire after DAYS days (default: never)")
    create.add_argument("--label", help="the key's name, shown in listings (default: NAME)")
    add_dsn(create)
    create.set_defaults(func=run_create)
    listing = sub.add_parser("list", help="list keys (of tenant NAME), never their secrets")
    listing.add_argument("name", metavar="NAME", nargs="?")
    add_dsn(listing)
    listing.set_defaults(func=run_list)
    revoke = sub.add_parser("revoke", help="revoke a key at once (every API worker refuses it within seconds)")
    revoke.add_argument("prefix", metavar="KEY_PREFIX", help="as shown by 'keys list' (mf_<prefix>_... works too)")
    add_dsn(revoke)
    revoke.set_defaults(func=run_revoke)


def _days(text: str) -> float:
    days = float(text)
    if not days > 0:
        raise argparse.ArgumentTypeError("DAYS must be positive")
    return days


def run_create(args: argparse.Namespace) -> int:
    scopes = ("read", "admin") if args.admin else ("read",)
    expires_in = None if args.expires is None else timedelta(days=args.expires)

    async def create(conn: asyncpg.Connection) -> NewKey:
        return await create_key(conn, args.name, actor=actor(), name=args.label, scopes=scopes, expires_in=expires_in)

    try:
        new = asyncio.run(with_connection(args.dsn, create))
    except asyncpg.ForeignKeyViolationError:
        print(f"no tenant {args.name!r}: create it with 'meterflow tenants create {args.name}'", file=sys.stderr)
        return 1
    expiry = "never" if new.expires_at is None else new.expires_at.isoformat()
    print(f"key {new.prefix} of tenant {new.tenant} ({new.name}), scopes {','.join(new.scopes)}, expires {expiry}")
    print("store it now: it is shown only this once")
    print(new.key)
    return 0


def run_list(args: argparse.Namespace) -> int:
    keys = asyncio.run(with_connection(args.dsn, lambda conn: list_keys(conn, args.name)))
    columns = ("prefix", "tenant", "name", "scopes", "created", "expires", "last used", "status")
    rows = [columns, *(_row(key) for key in keys)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _row(key: KeyInfo) -> tuple[str, ...]:
    now = datetime.now().astimezone()
    status = (
        "revoked"
        if key.revoked_at is not None
        else "expired"
        if key.expires_at is not None and key.expires_at <= now
        else "active"
    )
    return (
        key.prefix,
        key.tenant,
        key.name,
        ",".join(key.scopes) or "-",
        _when(key.created_at),
        _when(key.expires_at),
        _when(key.last_used_at),
        status,
    )


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.isoformat(timespec="seconds")


def run_revoke(args: argparse.Namespace) -> int:
    prefix = args.prefix.split("_")[1] if args.prefix.startswith("mf_") else args.prefix
    revoked = asyncio.run(with_connection(args.dsn, lambda conn: revoke_key(conn, prefix, actor=actor())))
    if not revoked:
        print(f"no active key with prefix {prefix!r} (see 'meterflow keys list')", file=sys.stderr)
        return 1
    print(f"key {prefix} revoked")
    return 0
