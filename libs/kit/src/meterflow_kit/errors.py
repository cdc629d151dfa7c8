"""The root of every Meterflow exception, and what its ``retriable`` flag promises.

Each package gathers its own exceptions in one ``errors`` module deriving from :class:`MeterflowError`
(as httpx's ``_exceptions.py`` does), so a caller can catch a whole family and ask whether trying again
can help::

    MeterflowError                      retriable: may trying again help?
    ├── meterflow_poller.errors
    │   ├── KafkaStateError             the checkpoint topic could not be read (retriable)
    │   ├── S3Error                     S3 failed (retriable unless only a configuration change helps)
    │   ├── ObjectGone                  the listed object version vanished (retriable)
    │   ├── ObjectUnreadable            S3 refuses to read one object (retriable, next poll)
    │   └── MalformedObject             not JSON, or not {"data": [...]} (not retriable)
    ├── meterflow_normalizer.errors
    │   └── RecordRejected              one record or channel is bad; carries its DLQ reason (not retriable)
    └── meterflow_writer.errors
        └── DatabaseError               a database operation failed (retriable)
            └── RowsRejected            the database refused the rows themselves (not retriable)

The query API's errors (``meterflow_api``) and the migrations' (``MigrationError``) live next to their
code; OBIS parsing raises ``meterflow_obis.ObisError``, a ValueError, since that library is pure.
"""

from __future__ import annotations


class MeterflowError(Exception):
    """Base of every service's errors. ``retriable`` tells the caller whether trying again can help;
    a subclass sets its usual answer, and an instance may override it."""

    retriable: bool = False

    def __init__(self, message: str, *, retriable: bool | None = None) -> None:
        super().__init__(message)
        if retriable is not None:
            self.retriable = retriable
