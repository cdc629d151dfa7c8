"""The source's tenant binding, the writer's pure part: which meters a batch asks to assign, and to whom."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from meterflow_contracts import ReadingBatch
from meterflow_harness.messages import reading_batch
from meterflow_writer.domain import PendingBatch, WriteOutcome, rows_of
from meterflow_writer.tenancy import Binding, bindings_for, bindings_of

A, B, C = (uuid.UUID(int=i, version=4) for i in (1, 2, 3))
T0 = datetime(2023, 2, 1, tzinfo=UTC)


def batch(muid: uuid.UUID, tenant: str | None, bucket: str = "src") -> ReadingBatch:
    return reading_batch(muid, "1-0:1.29.0*255", T0, [1.0], bucket=bucket).model_copy(update={"tenant": tenant})


def test_only_messages_with_a_tenant_bind_their_meter() -> None:
    messages = [batch(A, "utility-1"), batch(B, None), batch(C, "utility-2", bucket="other")]
    assert bindings_of(messages) == {
        A: Binding("utility-1", "source:s3://src"),
        C: Binding("utility-2", "source:s3://other"),
    }


def test_a_part_of_a_batch_binds_only_its_own_meters() -> None:
    bindings = {A: Binding("t", "s"), C: Binding("t", "s")}
    part = rows_of(batch(A, "t"))
    assert bindings_for(part, bindings) == {A: Binding("t", "s")}
    assert bindings_for(part, {}) == {}


def test_a_sealed_batch_carries_its_bindings() -> None:
    pending = PendingBatch()
    pending.add(batch(A, "utility-1"), "topic", 0, 0, 0.0)
    pending.add(batch(B, None), "topic", 0, 1, 0.0)
    pending.seal(lambda rows: None)
    assert pending.bindings == {A: Binding("utility-1", "source:s3://src")}


def test_outcomes_add_up_the_assignments() -> None:
    total = WriteOutcome(1, 0, 2, 1) + WriteOutcome(3, 1, 1, 0)
    assert total == WriteOutcome(4, 1, 3, 1)
