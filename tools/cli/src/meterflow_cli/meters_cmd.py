"""`meterflow meters erase MUID [--actor NAME] [--dsn DSN]`: erase one meter (an admin operation, run with the
owner's DSN, ``DATABASE_URL``): its readings and their rollup rows, its channels, its dirty-bucket marks and
its ownership go in one transaction, together with an ``audit_log`` row that says who erased it, when, and
how much went. Idempotent: erasing an erased meter deletes nothing and is recorded too.

What the database cannot erase (docs/security.md, "Erasure"): the meter's records stay in Kafka until the
topics' retention ends, and in the source bucket; a replay or a re-uploaded object brings them back.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, time, timedelta
from uuid import UUID

import asyncpg
import structlog
from meterflow_schema.migrate import DEFAULT_DSN, timescale_available

log = structlog.get_logger("meterflow.cli")

AGGREGATES = ("readings_hourly", "readings_daily")
_SPAN = "SELECT min(ts) AS first, max(ts) AS last, count(*) AS n FROM readings WHERE muid = $1"
_ROLLUP_HOURS = "SELECT count(*) FROM readings_hourly WHERE muid = $1"
_AUDIT = """
INSERT INTO audit_log (actor, action, subject, detail) VALUES ($1, 'meter.erase', $2, $3::jsonb)
RETURNING id, at
"""


@dataclass(frozen=True)
class Erasure:
    """What erasing one meter removed."""

    muid: str
    readings: int
    rollup_rows: int
    channels: int
    dirty_marks: int
    tenant: str | None
    audit_id: int = 0
    at: str = ""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("meters", help="meters: admin operations")
    sub = parser.add_subparsers(dest="meters_command", required=True)
    erase = sub.add_parser(
        "erase",
        help="delete a meter's readings, rollups, channels and ownership; recorded in audit_log",
        description="Erase one meter from the database (it stays in Kafka until retention: docs/security.md).",
    )
    erase.add_argument("muid", type=UUID, help="the meter's muid")
    erase.add_argument("--actor", default=None, help="who erases it, for the audit log (default: the OS user)")
    erase.add_argument(
        "--dsn",
        default=os.environ.get("DATABASE_URL", DEFAULT_DSN),
        help="the owner's DSN (default: $DATABASE_URL); the services' roles may not delete",
    )
    erase.set_defaults(func=run_erase)


def run_erase(args: argparse.Namespace) -> int:
    actor = args.actor or os_user()
    try:
        erasure = asyncio.run(erase_meter(args.dsn, args.muid, actor))
    except (OSError, asyncpg.PostgresError) as error:
        log.error("erase failed: nothing was deleted", muid=str(args.muid), error=str(error) or repr(error))
        return 1
    sys.stdout.write(summary(erasure) + "\n")
    return 0


def os_user() -> str:
    """The operating-system user running the command (its uid where it has no name, as in some containers)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid:{os.getuid()}"


def summary(erasure: Erasure) -> str:
    owner = f"owned by {erasure.tenant}" if erasure.tenant else "no owner"
    return (
        f"erased meter {erasure.muid}: {erasure.readings} readings, {erasure.rollup_rows} hourly rollup rows, "
        f"{erasure.channels} channels, {erasure.dirty_marks} refresh marks, {owner}; "
        f"audit_log id {erasure.audit_id} at {erasure.at}"
    )


async def erase_meter(dsn: str, muid: UUID, actor: str) -> Erasure:
    """Erase ``muid`` in one transaction with its audit row; on TimescaleDB, then refresh the continuous
    aggregates over the erased span (a refresh cannot run inside a transaction)."""
    conn: asyncpg.Connection = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        timescale = await timescale_available(conn)
        async with conn.transaction():
            erasure, span = await _delete(conn, muid, timescale)
            row = await conn.fetchrow(_AUDIT, actor, str(muid), json.dumps(_detail(erasure)))
            assert row is not None
            erasure = Erasure(**{**asdict(erasure), "audit_id": row["id"], "at": row["at"].isoformat()})
        if timescale and span is not None:
            await _refresh_aggregates(conn, *span)
        return erasure
    finally:
        await conn.close()


async def _delete(
    conn: asyncpg.Connection, muid: UUID, timescale: bool
) -> tuple[Erasure, tuple[datetime, datetime] | None]:
    # Lock the meter's ownership row first: a concurrent assignment waits for the erasure.
    tenant = await conn.fetchval("SELECT tenant FROM meter_tenants WHERE muid = $1 FOR UPDATE", muid)
    span = await conn.fetchrow(_SPAN, muid)
    assert span is not None
    # Plain PostgreSQL: the readings' triggers delete the rollup rows; counted before they go.
    rollup_rows = 0 if timescale else await conn.fetchval(_ROLLUP_HOURS, muid)
    readings = _count(await conn.execute("DELETE FROM readings WHERE muid = $1", muid))
    channels = _count(await conn.execute("DELETE FROM channels WHERE muid = $1", muid))
    marks = _count(await conn.execute("DELETE FROM readings_dirty_buckets WHERE muid = $1", muid))
    await conn.execute("DELETE FROM meter_tenants WHERE muid = $1", muid)
    erasure = Erasure(str(muid), readings, rollup_rows, channels, marks, tenant)
    return erasure, (span["first"], span["last"]) if span["n"] else None


def _count(status: str) -> int:
    """The row count of a command status such as ``DELETE 42``."""
    return int(status.rsplit(" ", 1)[-1])


def _detail(erasure: Erasure) -> dict[str, object]:
    return {
        "readings": erasure.readings,
        "rollup_rows": erasure.rollup_rows,
        "channels": erasure.channels,
        "dirty_marks": erasure.dirty_marks,
        "tenant": erasure.tenant,
    }


async def _refresh_aggregates(conn: asyncpg.Connection, first: datetime, last: datetime) -> None:
    # Whole UTC days around the span: the daily aggregate's buckets, which cover the hourly ones (a
    # refresh covers only the buckets wholly inside its window).
    start = datetime.combine(first.astimezone(UTC).date(), time(), UTC)
    end = datetime.combine(last.astimezone(UTC).date(), time(), UTC) + timedelta(days=1)
    for view in AGGREGATES:
        # refresh_continuous_aggregate refuses the extended protocol's implicit transaction: a simple
        # query, with the view from AGGREGATES and datetimes as the only values.
        await conn.execute(
            f"CALL refresh_continuous_aggregate('{view}', '{start.isoformat()}'::timestamptz,"
            f" '{end.isoformat()}'::timestamptz)"
        )
