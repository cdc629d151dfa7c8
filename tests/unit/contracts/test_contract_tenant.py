"""The optional tenant of issue 13 on meter.raw.v1 and meter.readings.v1: messages without it stay valid, a
name that is no tenant slug is refused on reading, and the normalizer carries it from raw to readings."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from meterflow_contracts import RAW, READINGS, RawBatch, SourcePosition
from meterflow_harness.messages import reading_batch
from meterflow_normalizer.domain import normalize
from pydantic import ValidationError

M = uuid.UUID("11111111-1111-4111-8111-111111111111")
T0 = datetime(2023, 2, 1, tzinfo=UTC)
RECORD = {
    "measurement": "energy",
    "timestamp": "2023-02-01T00:00:00.000Z",
    "tags": {"muid": str(M), "quality": "measured"},
    "0100011D00FF": 0.5,
}


def raw(tenant: str | None) -> RawBatch:
    source = SourcePosition(bucket="b", key="k.json", etag="e", chunk_index=0, record_start=0, record_end=1)
    return RawBatch(source=source, last_chunk=True, records=[RECORD], published_at=T0, tenant=tenant)


def test_messages_without_a_tenant_stay_valid() -> None:
    document = json.loads(READINGS.serialize(reading_batch(M, "1-0:1.29.0*255", T0, [1.0]))[1])
    document.pop("tenant", None)
    assert READINGS.deserialize(json.dumps(document).encode()).tenant is None
    raw_document = json.loads(RAW.serialize(raw(None))[1])
    raw_document.pop("tenant", None)
    assert RAW.deserialize(json.dumps(raw_document).encode()).tenant is None


@pytest.mark.parametrize("name", ["Utility", "", "-lead", "a b", "x" * 64, "ü"])
def test_a_tenant_that_is_no_slug_is_refused(name: str) -> None:
    document = json.loads(RAW.serialize(raw("utility-1"))[1])
    document["tenant"] = name
    with pytest.raises(ValidationError, match="tenant"):
        RAW.deserialize(json.dumps(document).encode())


def test_the_normalizer_carries_the_tenant_to_every_batch() -> None:
    (bound,) = normalize(raw("utility-1")).batches
    decoded = READINGS.deserialize(READINGS.serialize(bound)[1])
    assert decoded.tenant == "utility-1"
    (unbound,) = normalize(raw(None)).batches
    assert READINGS.deserialize(READINGS.serialize(unbound)[1]).tenant is None
