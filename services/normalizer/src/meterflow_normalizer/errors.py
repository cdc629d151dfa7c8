"""The normalizer's exceptions, all MeterflowError (see meterflow_kit.errors for the whole hierarchy).

RecordRejected is about one record's content, so trying again cannot help: the record (or the one channel
of it) goes to the dead-letter topic with the reason, and the rest of its raw batch goes on.
"""

from __future__ import annotations

from meterflow_contracts import DlqReason
from meterflow_kit.errors import MeterflowError


class RecordRejected(MeterflowError):
    """A record, or one channel of it, that cannot be trusted; carries its DLQ reason."""

    retriable = False

    def __init__(self, reason: DlqReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
