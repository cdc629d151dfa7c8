"""The migration runner: apply the packaged ``migrations/NNNN_<name>.sql`` in order, each exactly once.

Run it:  ``meterflow db migrate [--dsn postgresql://...]``, ``meterflow-writer migrate``,
``python -m meterflow_schema [--dsn ...] [--dir PATH]``, or from code: ``await migrate(dsn)``.
The SQL files are package data of meterflow-schema, read with importlib.resources: an installed wheel
carries them, and nothing looks for them in the file system around the code.

Rules the runner enforces:
- versions are the 4-digit file prefixes; applied ones are recorded in ``schema_migrations`` with the
  SHA-256 of the file, and a file changed after it was applied is an error (write a new migration instead);
- each file runs in its own transaction, together with its ``schema_migrations`` row, so a failure leaves
  nothing half-applied. A file holding a statement that PostgreSQL or TimescaleDB refuses inside a
  transaction block carries the line ``-- meterflow:no-transaction``: its statements then run one by one
  in autocommit, so such a file must be idempotent (IF NOT EXISTS, ...) to be safely retried;
- a migration may have a Python step (``PYTHON_STEPS``, for work SQL cannot do, such as decoding OBIS
  codes): it runs after the file's SQL in the same transaction and is recorded with the file's row. Like
  the SQL, its effect must never change once released: new behaviour goes into a new migration;
- a session advisory lock serializes concurrent runners (several writer replicas starting at once).

The same files run on TimescaleDB and on plain PostgreSQL: they guard the TimescaleDB parts themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import asyncpg

from meterflow_schema.channels import backfill_channels
from meterflow_schema.errors import MigrationChecksumError, MigrationError
from meterflow_schema.sqltext import split_statements

log = logging.getLogger("meterflow_schema.migrate")

NO_TRANSACTION_MARKER = "-- meterflow:no-transaction"
DEFAULT_DSN = "postgresql://meterflow:meterflow@127.0.0.1:5432/meterflow"
# Arbitrary but fixed: every runner against the same database must use the same key.
ADVISORY_LOCK_KEY = 0x6D66_6D69_6772  # "mfmigr"
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9][a-z0-9_]*)\.sql$")

PythonStep = Callable[[asyncpg.Connection], Awaitable[None]]
"""Work a migration does in Python after its SQL, on the migration's connection and transaction."""

PYTHON_STEPS: Mapping[str, PythonStep] = {
    # Fills channels from the readings already there; the OBIS metadata is decoded by meterflow_obis.
    "0006_channels": backfill_channels,
}

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
_RECORD = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file: its version, name, text and SHA-256, and its Python step if it has one."""

    version: str
    name: str
    sql: str
    checksum: str
    python_step: PythonStep | None = None

    @property
    def filename(self) -> str:
        return f"{self.version}_{self.name}.sql"

    @property
    def transactional(self) -> bool:
        return not any(line.strip() == NO_TRANSACTION_MARKER for line in self.sql.splitlines())


def packaged_migrations() -> Traversable:
    """The migrations shipped in this package (a directory in a checkout, an entry in an installed wheel)."""
    return files("meterflow_schema") / "migrations"


def load_migrations(directory: Traversable | Path | None = None) -> list[Migration]:
    """Read every NNNN_<name>.sql in ``directory`` (default: the packaged ones), ordered by version."""
    source = packaged_migrations() if directory is None else directory
    if not source.is_dir():
        raise MigrationError(f"migrations directory {source} does not exist")
    found: dict[str, Migration] = {}
    for entry in sorted((e for e in source.iterdir() if e.name.endswith(".sql")), key=lambda e: e.name):
        match = _FILE_NAME.match(entry.name)
        if match is None:
            # A file that is silently skipped is a schema change that silently never happens.
            raise MigrationError(f"{entry.name}: migration files are named NNNN_<lower_snake_name>.sql")
        version = match["version"]
        if version in found:
            raise MigrationError(f"version {version} is used by {found[version].filename} and {entry.name}")
        raw = entry.read_bytes()
        migration = Migration(
            version=version,
            name=match["name"],
            sql=raw.decode("utf-8"),
            checksum=hashlib.sha256(raw).hexdigest(),
            python_step=PYTHON_STEPS.get(f"{version}_{match['name']}"),
        )
        if migration.python_step is not None and not migration.transactional:
            raise MigrationError(f"{entry.name}: a migration with a Python step must run in a transaction")
        found[version] = migration
    return [found[version] for version in sorted(found)]


async def timescale_available(conn: asyncpg.Connection) -> bool:
    """True when TimescaleDB is installed in the connected database (so hypertables and aggregates are).

    After the migrations ran this also answers "are readings_hourly/readings_daily continuous aggregates":
    the migrations create the extension whenever the server offers it and it can be created.
    """
    installed = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    return bool(installed)


async def migrate(dsn: str, directory: Traversable | Path | None = None) -> list[str]:
    """Apply every migration not yet applied to the database at ``dsn``; return the versions applied.
    ``directory`` replaces the packaged migrations (tests of the runner itself)."""
    migrations = load_migrations(directory)
    # No prepared-statement cache: the TimescaleDB conformance server (PGlite) and poolers such as
    # pgbouncer do not keep them, and the runner sends a handful of statements.
    conn: asyncpg.Connection = await asyncpg.connect(dsn, statement_cache_size=0)
    try:
        return await migrate_connection(conn, migrations)
    finally:
        await conn.close()


async def migrate_connection(conn: asyncpg.Connection, migrations: Sequence[Migration]) -> list[str]:
    """Apply ``migrations`` over an open connection (not inside a transaction); return versions applied."""
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await conn.execute(_CREATE_TABLE)
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        applied = {row["version"]: (row["name"], row["checksum"]) for row in rows}
        known = {m.version for m in migrations}
        for version in sorted(set(applied) - known):
            log.warning("migration %s_%s is applied but has no file here", version, applied[version][0])
        for migration in migrations:
            if migration.version in applied and applied[migration.version][1] != migration.checksum:
                raise MigrationChecksumError(
                    f"migration {migration.filename} changed after it was applied "
                    f"(recorded sha256 {applied[migration.version][1]}, file {migration.checksum}): "
                    "restore it and add a new migration instead"
                )
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                continue
            await _apply(conn, migration)
            done.append(migration.version)
        timescale = await timescale_available(conn)
        log.info(
            "migrations: %d applied now, %d already, engine=%s",
            len(done),
            len(migrations) - len(done),
            "timescaledb" if timescale else "postgresql",
        )
        return done
    finally:
        await _unlock(conn)


async def _unlock(conn: asyncpg.Connection) -> None:
    # Must not hide the error that got us here; closing the session releases the lock anyway.
    if conn.is_closed():
        return
    try:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as error:
        log.warning("could not release the migrations lock: %r", error)


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    log.info("applying migration %s_%s", migration.version, migration.name)
    try:
        if migration.transactional:
            async with conn.transaction():
                await conn.execute(migration.sql)
                if migration.python_step is not None:
                    await migration.python_step(conn)
                await conn.execute(_RECORD, migration.version, migration.name, migration.checksum)
        else:
            for statement in split_statements(migration.sql):
                await conn.execute(statement)
            await conn.execute(_RECORD, migration.version, migration.name, migration.checksum)
    except asyncpg.PostgresError as error:
        raise MigrationError(f"migration {migration.filename} failed: {error}") from error


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point (``python -m meterflow_schema``); returns the process exit code."""
    from meterflow_kit.logs import configure_logging

    parser = argparse.ArgumentParser(
        prog="python -m meterflow_schema",
        description="Apply the Meterflow schema migrations (packaged in meterflow_schema/migrations).",
    )
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN), help="default: $DATABASE_URL")
    parser.add_argument("--dir", type=Path, default=None, help="other migrations (default: the packaged ones)")
    args = parser.parse_args(argv)
    configure_logging("migrations", os.environ.get("LOG_LEVEL", "INFO"))
    return run(args.dsn, args.dir)


def run(dsn: str, directory: Path | None = None) -> int:
    """Apply the migrations and log the outcome; the exit code of a command that does only that."""
    try:
        applied = asyncio.run(migrate(dsn, directory))
    except MigrationError as error:
        log.error("%s", error)
        return 1
    log.info("applied versions: %s", ", ".join(applied) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
