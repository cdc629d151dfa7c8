"""What the ``tenants`` and ``keys`` commands share: the DSN option, the acting user, one connection."""

from __future__ import annotations

import argparse
import getpass
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from meterflow_schema.migrate import DEFAULT_DSN

T = TypeVar("T")


def add_dsn(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN), help="default: $DATABASE_URL or the local stack"
    )


def actor() -> str:
    """Who the audit log names: the operating-system user running the CLI."""
    return f"cli:{getpass.getuser()}"


async def with_connection(dsn: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await work(conn)
    finally:
        await conn.close()
