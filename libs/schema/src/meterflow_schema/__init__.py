"""The Meterflow database schema as a contract: the SQL migrations (package data under ``migrations/``),
their runner, and the upkeep of the channels table that is not the writer's.

>>> applied = await migrate("postgresql://meterflow:meterflow@127.0.0.1:5432/meterflow")  # doctest: +SKIP

Used by the writer (migrates at ``meterflow-writer migrate`` and keeps channels current), the CLI
(``meterflow db migrate``), the query API's tests and the benchmarks. See docs/storage.md.
"""

from meterflow_schema.channels import ChannelKey, ChannelMeta, describe_obis, measurement_of, refresh_channels
from meterflow_schema.errors import MigrationChecksumError, MigrationError
from meterflow_schema.migrate import (
    Migration,
    load_migrations,
    migrate,
    migrate_connection,
    packaged_migrations,
    timescale_available,
)
from meterflow_schema.sqltext import split_statements

__all__ = [
    "ChannelKey",
    "ChannelMeta",
    "Migration",
    "MigrationChecksumError",
    "MigrationError",
    "describe_obis",
    "load_migrations",
    "measurement_of",
    "migrate",
    "migrate_connection",
    "packaged_migrations",
    "refresh_channels",
    "split_statements",
    "timescale_available",
]
