"""Errors of the schema package. Both derive from meterflow_kit's MeterflowError and are not retriable:
running the same migrations again cannot fix a broken or edited migration.

    MeterflowError (meterflow_kit)
    └── MigrationError            the migrations cannot be applied as they are
        └── MigrationChecksumError  a migration file changed after it was applied
"""

from __future__ import annotations

from meterflow_kit.errors import MeterflowError


class MigrationError(MeterflowError):
    """The migrations cannot be applied as they are; retrying will not help."""


class MigrationChecksumError(MigrationError):
    """A migration file changed after it was applied."""
