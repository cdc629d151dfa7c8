"""The optional source-version fields of issue 12: messages without them stay valid, and record_indexes has
one entry per reading."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from meterflow_contracts import READINGS
from meterflow_harness.messages import reading_batch
from pydantic import ValidationError

M = uuid.UUID("11111111-1111-4111-8111-111111111111")
T0 = datetime(2023, 2, 1, tzinfo=UTC)


def test_a_message_of_an_older_producer_is_valid_and_has_no_version() -> None:
    document = json.loads(READINGS.serialize(reading_batch(M, "1-0:1.29.0*255", T0, [1.0, 2.0]))[1])
    document.pop("record_indexes")
    for name in ("last_modified", "generation"):
        document["source"].pop(name)
    batch = READINGS.deserialize(json.dumps(document).encode())
    assert (batch.record_indexes, batch.source.last_modified, batch.source.generation) == (None, None, None)


def test_record_indexes_need_one_entry_per_reading_and_fit_an_integer_column() -> None:
    made = reading_batch(M, "1-0:1.29.0*255", T0, [1.0, 2.0])
    document = json.loads(READINGS.serialize(made)[1])
    document["record_indexes"] = [3, 4]
    assert READINGS.deserialize(json.dumps(document).encode()).record_indexes == [3, 4]
    for wrong in ([3], [3, 4, 5], [-1, 0], [0, 2**31]):
        document["record_indexes"] = wrong
        with pytest.raises(ValidationError, match="record_indexes"):
            READINGS.deserialize(json.dumps(document).encode())
