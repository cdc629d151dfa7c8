"""The committed JSON Schema snapshots match the models: a contract change cannot slip through."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import jsonschema
import pytest
from meterflow_contracts import ALL_TOPICS, RawBatch, ReadingBatch, SourcePosition, TopicSpec
from meterflow_contracts.schemas import render, schema_of, snapshot_path
from meterflow_harness.paths import REPO

SNAPSHOTS = REPO / "docs" / "contracts"


@pytest.mark.parametrize("spec", ALL_TOPICS, ids=lambda s: s.name)
def test_snapshot_matches_model(spec: TopicSpec) -> None:
    committed = snapshot_path(SNAPSHOTS, spec).read_text()
    assert committed == render(spec), (
        f"the model of {spec.name} changed without its snapshot: if the change is compatible, run "
        "`uv run python -m meterflow_contracts.schemas` and commit docs/contracts; "
        "if it breaks consumers, add a new model and a new topic version instead"
    )


@pytest.mark.parametrize("spec", ALL_TOPICS, ids=lambda s: s.name)
def test_every_topic_carries_its_major_version(spec: TopicSpec) -> None:
    assert "schema_version" in schema_of(spec)["properties"]  # type: ignore[operator]
    # The name's major version is the version every message of the topic carries.
    assert spec.name.endswith(f".v{spec.model.model_fields['schema_version'].default}")


def test_serialized_message_validates_against_snapshot() -> None:
    source = SourcePosition(bucket="b", key="k.json", etag="e", chunk_index=0, record_start=0, record_end=1)
    batch = ReadingBatch(
        muid="95ce3367-cbce-4a4d-bbe3-da082831d7bd",  # type: ignore[arg-type]
        obis="1-0:1.29.0*255",
        obis_hex="0100011D00FF",
        quantity="active_energy",
        direction="import",
        unit="kWh",
        measurement="energy",
        interval_s=900,
        readings=[(datetime(2023, 2, 1, tzinfo=UTC), 0.0117, "measured")],
        source=source,
    )
    schema = json.loads(snapshot_path(SNAPSHOTS, ALL_TOPICS[1]).read_text())
    jsonschema.validate(json.loads(batch.model_dump_json()), schema)
    assert ReadingBatch.model_validate_json(batch.model_dump_json()) == batch


def test_consumers_ignore_unknown_fields_but_reject_other_versions() -> None:
    message = {
        "schema_version": 1,
        "source": {"bucket": "b", "key": "k", "etag": "e", "chunk_index": 0, "record_start": 0, "record_end": 0},
        "last_chunk": True,
        "records": [],
        "published_at": "2023-02-01T00:00:00Z",
        "added_later": "ignored",
    }
    assert RawBatch.model_validate(message).last_chunk is True
    with pytest.raises(ValueError, match="schema_version"):
        RawBatch.model_validate({**message, "schema_version": 2})
