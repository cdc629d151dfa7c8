"""The poller's exceptions, all MeterflowError (see meterflow_kit.errors for the whole hierarchy).

``retriable`` says whether the next poll can succeed without a change: S3 and Kafka outages pass, a
malformed object stays malformed until it is replaced.
"""

from __future__ import annotations

from meterflow_contracts import DlqReason
from meterflow_kit.errors import MeterflowError


class KafkaStateError(MeterflowError):
    """The checkpoint topic could not be read (missing, or the broker did not answer in time)."""

    retriable = True


class S3Error(MeterflowError):
    """S3 failed; ``retriable`` is False when only a configuration change can help."""


class ObjectGone(MeterflowError):
    """The listed version of the object is no longer there (deleted or overwritten since the listing)."""

    retriable = True


class ObjectUnreadable(MeterflowError):
    """S3 refuses to read this object; it is skipped, and tried again every poll until that changes."""

    retriable = True


class MalformedObject(MeterflowError):
    """The object is not JSON, or not in the source format ``{"data": [...]}``.

    ``records_before`` records parsed before the fault were published; ``byte_offset`` is how far the
    parser had read when it gave up (a position, not an exact byte: it reads ahead in 64 KiB buffers).
    ``number_overflow`` says the fast parser stopped at a number no double holds: the tolerant parser
    reads the rest of the object, rejecting only that record.
    """

    def __init__(
        self, reason: DlqReason, message: str, records_before: int, byte_offset: int, number_overflow: bool = False
    ) -> None:
        super().__init__(message, retriable=False)
        self.reason = reason
        self.records_before = records_before
        self.byte_offset = byte_offset
        self.number_overflow = number_overflow


class HttpSourceError(MeterflowError):
    """An HTTP source's server did not answer with a page: unreachable, timing out, or an error status
    (``retriable`` False for one no retry changes, e.g. 401 or 404)."""
