"""The writer's exceptions, all MeterflowError (see meterflow_kit.errors for the whole hierarchy).

A DatabaseError is retried with backoff (the loader waits through an outage); RowsRejected is not: the
rows are isolated and dead-lettered instead. The migrations' errors stay with the migrations.
"""

from __future__ import annotations

from meterflow_kit.errors import MeterflowError


class DatabaseError(MeterflowError):
    """A database operation failed; ``retriable`` is False when the data itself was rejected."""

    retriable = True


class RowsRejected(DatabaseError):
    """The database (or its driver) refused the rows for what they contain; retrying cannot help."""

    retriable = False
