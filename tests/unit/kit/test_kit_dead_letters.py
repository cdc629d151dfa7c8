"""The one "invalid message" dead letter every stage builds for a message its topic cannot decode."""

from __future__ import annotations

import pytest
from meterflow_contracts import DLQ, RAW, READINGS, DlqReason
from meterflow_kit.dead_letters import MAX_RECORD_CHARS, invalid_message


def test_invalid_message_names_the_topic_and_keeps_the_evidence() -> None:
    with pytest.raises(ValueError) as caught:  # noqa: PT011
        READINGS.deserialize(b'{"muid": 1}')
    dead = invalid_message("writer", READINGS, b'{"muid": 1}', str(caught.value))
    assert dead.reason is DlqReason.INVALID_MESSAGE
    assert dead.stage == "writer"
    assert dead.message.startswith("message is not a meter.readings.v1 batch: ")
    assert dead.record == '{"muid": 1}'
    assert dead.source is None
    assert DLQ.deserialize(DLQ.encode_value(dead)) == dead


def test_invalid_message_cuts_long_or_undecodable_values() -> None:
    dead = invalid_message("normalizer", RAW, b"\xff" + b"x" * (2 * MAX_RECORD_CHARS), "e" * 5000)
    assert len(dead.record) == MAX_RECORD_CHARS
    assert dead.record.startswith("\ufffd")
    assert len(dead.message) < 2_100
    assert invalid_message("normalizer", RAW, None, "empty").record == ""
