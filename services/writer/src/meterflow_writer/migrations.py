"""Schema migrations: apply infra/timescale/migrations/NNNN_<name>.sql in order, each exactly once.

Run it:  uv run python -m meterflow_writer.migrations [--dsn postgresql://...] [--dir PATH]
         (defaults: $DATABASE_URL, then $MIGRATIONS_DIR or the repository's infra/timescale/migrations)
or from code: ``await migrate(dsn)``.

Rules the runner enforces:
- versions are the 4-digit file prefixes; applied ones are recorded in ``schema_migrations`` with the
  SHA-256 of the file, and a file changed after it was applied is an error (write a new migration instead);
- each file runs in its own transaction, together with its ``schema_migrations`` row, so a failure leaves
  nothing half-applied. A file holding a statement that PostgreSQL or TimescaleDB refuses inside a
  transaction block carries the line ``-- meterflow:no-transaction``: its statements then run one by one
  in autocommit, so such a file must be idempotent (IF NOT EXISTS, ...) to be safely retried;
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from meterflow_kit.backoff import MeterflowError

log = logging.getLogger("meterflow_writer.migrations")

NO_TRANSACTION_MARKER = "-- meterflow:no-transaction"
DEFAULT_DSN = "postgresql://meterflow:meterflow@127.0.0.1:5432/meterflow"
# Arbitrary but fixed: every runner against the same database must use the same key.
ADVISORY_LOCK_KEY = 0x6D66_6D69_6772  # "mfmigr"
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9][a-z0-9_]*)\.sql$")
_RELATIVE_DIR = Path("infra") / "timescale" / "migrations"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    text PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
_RECORD = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"


class MigrationError(MeterflowError):
    """The migrations cannot be applied as they are; retrying will not help."""


class MigrationChecksumError(MigrationError):
    """A migration file changed after it was applied."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: str
    name: str
    path: Path
    sql: str
    checksum: str

    @property
    def transactional(self) -> bool:
        return not any(line.strip() == NO_TRANSACTION_MARKER for line in self.sql.splitlines())


def default_migrations_dir() -> Path:
    """$MIGRATIONS_DIR, else the first infra/timescale/migrations found walking up from this file."""
    configured = os.environ.get("MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / _RELATIVE_DIR
        if candidate.is_dir():
            return candidate
    raise MigrationError(f"cannot find {_RELATIVE_DIR} above {Path(__file__).resolve().parent}; set MIGRATIONS_DIR")


def load_migrations(directory: Path) -> list[Migration]:
    """Read every NNNN_<name>.sql in ``directory``, ordered by version."""
    if not directory.is_dir():
        raise MigrationError(f"migrations directory {directory} does not exist")
    found: dict[str, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            # A file that is silently skipped is a schema change that silently never happens.
            raise MigrationError(f"{path.name}: migration files are named NNNN_<lower_snake_name>.sql")
        raw = path.read_bytes()
        version = match["version"]
        if version in found:
            raise MigrationError(f"version {version} is used by {found[version].path.name} and {path.name}")
        found[version] = Migration(
            version=version,
            name=match["name"],
            path=path,
            sql=raw.decode("utf-8"),
            checksum=hashlib.sha256(raw).hexdigest(),
        )
    return [found[version] for version in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split SQL into statements on top-level semicolons.

    Knows quotes ('...', E'...', "..."), dollar quoting ($$...$$, $tag$...$tag$) and comments (--, nested
    /* */), which is all our migration files use. Only needed for no-transaction files: a multi-statement
    simple query runs as one implicit transaction, so those statements must be sent one at a time.
    """
    statements: list[str] = []
    start = 0
    i = 0
    n = len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif c == "/" and sql.startswith("/*", i):
            depth = 1
            i += 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth += 1
                    i += 2
                elif sql.startswith("*/", i):
                    depth -= 1
                    i += 2
                else:
                    i += 1
        elif c in ("'", '"'):
            # Only E'...' strings treat a backslash as an escape (standard_conforming_strings is on).
            escapes = c == "'" and i > 0 and sql[i - 1] in "eE" and not (i > 1 and _is_word(sql[i - 2]))
            i += 1
            while i < n:
                if sql[i] == c:
                    if i + 1 < n and sql[i + 1] == c:  # a doubled quote stands for itself
                        i += 2
                        continue
                    break
                i += 2 if escapes and sql[i] == "\\" else 1
            i += 1
        elif c == "$":
            tag = re.match(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:])
            # $1-style parameters and identifiers containing $ are not dollar quotes.
            if tag is not None and not (i > 0 and _is_word(sql[i - 1])):
                end = sql.find(tag.group(0), i + len(tag.group(0)))
                i = n if end < 0 else end + len(tag.group(0))
            else:
                i += 1
        elif c == ";":
            statements.append(sql[start:i])
            start = i + 1
            i += 1
        else:
            i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _is_word(char: str) -> bool:
    return char.isalnum() or char in "_$"


def _has_code(statement: str) -> bool:
    """True unless the fragment is only whitespace and comments."""
    without_line_comments = re.sub(r"--[^\n]*", "", statement)
    without_comments = re.sub(r"/\*.*?\*/", "", without_line_comments, flags=re.DOTALL)
    return bool(without_comments.strip())


async def timescale_available(conn: asyncpg.Connection) -> bool:
    """True when TimescaleDB is installed in the connected database (so hypertables and aggregates are).

    After the migrations ran this also answers "are readings_hourly/readings_daily continuous aggregates":
    the migrations create the extension whenever the server offers it and it can be created.
    """
    installed = await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')")
    return bool(installed)


async def migrate(dsn: str, migrations_dir: Path | None = None) -> list[str]:
    """Apply every migration not yet applied to the database at ``dsn``; return the versions applied."""
    migrations = load_migrations(migrations_dir if migrations_dir is not None else default_migrations_dir())
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
        on_disk = {m.version for m in migrations}
        for version in sorted(set(applied) - on_disk):
            log.warning("migration %s_%s is applied but has no file here", version, applied[version][0])
        for migration in migrations:
            if migration.version in applied and applied[migration.version][1] != migration.checksum:
                raise MigrationChecksumError(
                    f"migration {migration.path.name} changed after it was applied "
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
                await conn.execute(_RECORD, migration.version, migration.name, migration.checksum)
        else:
            for statement in split_statements(migration.sql):
                await conn.execute(statement)
            await conn.execute(_RECORD, migration.version, migration.name, migration.checksum)
    except asyncpg.PostgresError as error:
        raise MigrationError(f"migration {migration.path.name} failed: {error}") from error


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    from meterflow_kit.logs import configure_logging

    parser = argparse.ArgumentParser(
        prog="python -m meterflow_writer.migrations",
        description="Apply the Meterflow schema migrations (infra/timescale/migrations).",
    )
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL", DEFAULT_DSN), help="default: $DATABASE_URL")
    parser.add_argument("--dir", type=Path, default=None, help="default: $MIGRATIONS_DIR or the repo's")
    args = parser.parse_args(argv)
    configure_logging("migrations", os.environ.get("LOG_LEVEL", "INFO"))
    try:
        applied = asyncio.run(migrate(args.dsn, args.dir))
    except MigrationError as error:
        log.error("%s", error)
        return 1
    log.info("applied versions: %s", ", ".join(applied) or "none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
