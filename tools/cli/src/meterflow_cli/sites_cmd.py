"""``meterflow sites create|list|delete``: sites group a tenant's channels by role (docs/api.md, "Sites").

    meterflow sites create home-1 --tenant demo --import 95ce3367-...:1-0:1.29.0*255 --export 1db7649e-...
    meterflow sites create home-2 --tenant demo --import M1 --export M1 --production M2 --submeter heat_pump=M3
    meterflow sites list [--tenant demo]
    meterflow sites delete home-1

A channel is MUID[:OBIS]. Without OBIS the meter's channel is taken from the channels table: its active
energy channel of the role's direction (import and submeter: import, 1-0:1.29.0*255 for 15-minute data;
export: export, 1-0:2.29.0*255; production: export first, as a PV meter counts what the panels deliver as
export, else import), or its only channel; for a meter without readings yet, 1-0:1.29.0*255 for import and
submeter, 1-0:2.29.0*255 for export and production. The tenant must exist (it is created with the tenants
commands), and a meter that another tenant owns (meter_tenants) is refused. Every change is written to
audit_log in the same transaction.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from meterflow_obis import ObisError, parse
from meterflow_schema.migrate import DEFAULT_DSN

IMPORT_OBIS = "1-0:1.29.0*255"
EXPORT_OBIS = "1-0:2.29.0*255"
# Per role: the directions to look for among the meter's active-energy channels, in order, and the fallback.
ROLE_DEFAULTS: dict[str, tuple[tuple[str, ...], str]] = {
    "import": (("import",), IMPORT_OBIS),
    "export": (("export",), EXPORT_OBIS),
    "production": (("export", "import"), EXPORT_OBIS),
    "submeter": (("import",), IMPORT_OBIS),
}
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


class SiteError(Exception):
    """A site command that cannot be carried out; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    role: str
    label: str
    muid: uuid.UUID
    obis: str | None  # normalized; None: chosen from the channels table


@dataclass(frozen=True, slots=True)
class KnownChannel:
    obis: str
    quantity: str
    direction: str | None


def parse_channel(role: str, text: str) -> ChannelSpec:
    """``MUID[:OBIS]`` (``LABEL=MUID[:OBIS]`` for a submeter) as a ChannelSpec."""
    label = ""
    if role == "submeter":
        label, sep, text = text.partition("=")
        if not sep or not _SLUG.fullmatch(label):
            raise SiteError(f"--submeter {label}{sep}{text}: use LABEL=MUID[:OBIS] with a label such as heat_pump")
    muid_text, _, obis_text = text.partition(":")
    try:
        muid = uuid.UUID(muid_text)
    except ValueError:
        raise SiteError(f"--{role} {text}: {muid_text!r} is not a meter id (UUID)") from None
    obis = None
    if obis_text:
        try:
            obis = parse(obis_text).normalized
        except ObisError as error:
            raise SiteError(f"--{role} {text}: {error}") from None
    return ChannelSpec(role, label, muid, obis)


def default_obis(role: str, channels: Sequence[KnownChannel]) -> str:
    """The channel a role means on a meter when no OBIS is given (see the module's docstring)."""
    directions, fallback = ROLE_DEFAULTS[role]
    for direction in directions:
        for channel in channels:
            if channel.quantity == "active_energy" and channel.direction == direction:
                return channel.obis
    if len(channels) == 1:
        return channels[0].obis
    return fallback


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("sites", help="sites: a tenant's import, export, production and sub-meter channels")
    sub = parser.add_subparsers(dest="sites_command", required=True)
    dsn_help = "default: $DATABASE_URL or the local stack's"
    create = sub.add_parser("create", help="create a site from its channels")
    create.add_argument("name", help="site name: lower-case letters, digits, - and _")
    create.add_argument("--tenant", required=True, help="owning tenant (must exist)")
    create.add_argument("--import", dest="import_", required=True, metavar="MUID[:OBIS]", help="grid import channel")
    create.add_argument("--export", required=True, metavar="MUID[:OBIS]", help="grid export channel")
    create.add_argument("--production", metavar="MUID[:OBIS]", help="PV production channel")
    create.add_argument(
        "--submeter", action="append", default=[], metavar="LABEL=MUID[:OBIS]", help="a sub-meter (repeatable)"
    )
    create.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN), help=dsn_help)
    create.set_defaults(func=run_create)
    listing = sub.add_parser("list", help="list sites as JSON lines")
    listing.add_argument("--tenant", help="only this tenant's")
    listing.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN), help=dsn_help)
    listing.set_defaults(func=run_list)
    delete = sub.add_parser("delete", help="delete a site (its readings stay)")
    delete.add_argument("name")
    delete.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN), help=dsn_help)
    delete.set_defaults(func=run_delete)


def _specs(args: argparse.Namespace) -> list[ChannelSpec]:
    specs = [parse_channel("import", args.import_), parse_channel("export", args.export)]
    if args.production:
        specs.append(parse_channel("production", args.production))
    specs.extend(parse_channel("submeter", text) for text in args.submeter)
    labels = [s.label for s in specs if s.role == "submeter"]
    if len(set(labels)) != len(labels):
        raise SiteError(f"--submeter labels must differ (got {labels})")
    return specs


def run_create(args: argparse.Namespace) -> int:
    try:
        if not _SLUG.fullmatch(args.name):
            raise SiteError(f"site name {args.name!r}: use lower-case letters, digits, - and _ (e.g. home-1)")
        channels = asyncio.run(create_site(args.dsn, args.name, args.tenant, _specs(args)))
    except SiteError as error:
        print(f"meterflow sites create: {error}", file=sys.stderr)
        return 1
    print(json.dumps({"site": args.name, "tenant": args.tenant, "channels": channels}))
    return 0


async def create_site(dsn: str, name: str, tenant: str, specs: Sequence[ChannelSpec]) -> list[dict[str, str]]:
    """Creates the site and its channels in one transaction, with an audit_log row; returns the channels."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM tenants WHERE name = $1)", tenant):
                raise SiteError(f"unknown tenant {tenant!r}: create it first (meterflow tenants create {tenant})")
            try:
                await conn.execute("INSERT INTO sites (name, tenant) VALUES ($1, $2)", name, tenant)
            except asyncpg.UniqueViolationError:
                raise SiteError(f"site {name!r} exists already (meterflow sites delete {name} first)") from None
            rows: list[dict[str, str]] = []
            for spec in specs:
                owner = await conn.fetchval("SELECT tenant FROM meter_tenants WHERE muid = $1", spec.muid)
                if owner is not None and owner != tenant:
                    raise SiteError(f"--{spec.role}: meter {spec.muid} belongs to tenant {owner!r}, not {tenant!r}")
                obis = spec.obis or default_obis(spec.role, await _known_channels(conn, spec.muid))
                await conn.execute(
                    "INSERT INTO site_channels (site, role, label, muid, obis) VALUES ($1, $2, $3, $4, $5)",
                    name,
                    spec.role,
                    spec.label,
                    spec.muid,
                    obis,
                )
                rows.append({"role": spec.role, "label": spec.label, "muid": str(spec.muid), "obis": obis})
            await _audit(conn, "site.create", name, {"tenant": tenant, "channels": rows})
    finally:
        await conn.close()
    return rows


async def _known_channels(conn: asyncpg.Connection, muid: uuid.UUID) -> list[KnownChannel]:
    records = await conn.fetch("SELECT obis, quantity, direction FROM channels WHERE muid = $1 ORDER BY obis", muid)
    return [KnownChannel(r["obis"], r["quantity"], r["direction"]) for r in records]


async def _audit(conn: asyncpg.Connection, action: str, subject: str, detail: dict[str, object]) -> None:
    await conn.execute(
        "INSERT INTO audit_log (actor, action, subject, detail) VALUES ($1, $2, $3, $4::jsonb)",
        getpass.getuser(),
        action,
        subject,
        json.dumps(detail),
    )


def run_list(args: argparse.Namespace) -> int:
    for line in asyncio.run(_list(args.dsn, args.tenant)):
        print(line)
    return 0


async def _list(dsn: str, tenant: str | None) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        records = await conn.fetch(
            """
            SELECT s.name, s.tenant,
                   coalesce(json_agg(json_build_object('role', c.role, 'label', c.label, 'muid', c.muid, 'obis', c.obis)
                            ORDER BY c.role, c.label) FILTER (WHERE c.site IS NOT NULL), '[]')::text AS channels
            FROM sites s LEFT JOIN site_channels c ON c.site = s.name
            WHERE $1::text IS NULL OR s.tenant = $1
            GROUP BY s.name, s.tenant ORDER BY s.name
            """,
            tenant,
        )
    finally:
        await conn.close()
    return [
        json.dumps({"site": r["name"], "tenant": r["tenant"], "channels": json.loads(r["channels"])}) for r in records
    ]


def run_delete(args: argparse.Namespace) -> int:
    deleted = asyncio.run(_delete(args.dsn, args.name))
    if not deleted:
        print(f"meterflow sites delete: no site {args.name!r}", file=sys.stderr)
        return 1
    print(json.dumps({"deleted": args.name}))
    return 0


async def _delete(dsn: str, name: str) -> bool:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            tenant = await conn.fetchval("DELETE FROM sites WHERE name = $1 RETURNING tenant", name)
            if tenant is not None:
                await _audit(conn, "site.delete", name, {"tenant": tenant})
    finally:
        await conn.close()
    return tenant is not None
