"""The normalizer's domain logic, without Kafka: decoding, batching per channel, and dead letters."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from meterflow_contracts import DlqReason, RawBatch, SourcePosition
from meterflow_normalizer.domain import infer_interval_s, normalize
from real_data import REAL_FILES, SHARED_DATA

MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
OTHER = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"


def record(ts: str = "2023-02-01T00:00:00.000Z", muid: Any = MUID, **values: Any) -> dict[str, Any]:
    return {
        "measurement": "energy",
        "timestamp": ts,
        "tags": {"muid": muid, "quality": "measured"},
        **(values or {"0100011D00FF": 0.0117}),
    }


def raw(*records: Any) -> RawBatch:
    return RawBatch(
        source=SourcePosition(
            bucket="b", key="challenge/x.json", etag="e1", chunk_index=0, record_start=0, record_end=len(records)
        ),
        last_chunk=True,
        records=list(records),
        published_at=datetime(2023, 3, 1, tzinfo=UTC),
    )


def test_one_batch_per_meter_and_channel_sorted_ascending() -> None:
    result = normalize(
        raw(
            record("2023-02-01T00:15:00.000Z", **{"0100011D00FF": 2}),
            record("2023-02-01T00:00:00.000Z", **{"0100011D00FF": 0.5}),
            record("2023-02-01T00:00:00.000Z", muid=OTHER, **{"0100021D00FF": 0}),
        )
    )
    assert result.dead_letters == []
    assert result.records_in == 3
    assert result.readings_out == 3
    by_muid = {str(b.muid): b for b in result.batches}
    imported = by_muid[MUID]
    assert imported.obis == "1-0:1.29.0*255"
    assert (imported.quantity, imported.direction, imported.unit) == ("active_energy", "import", "kWh")
    assert [r[0].isoformat() for r in imported.readings] == ["2023-02-01T00:00:00+00:00", "2023-02-01T00:15:00+00:00"]
    assert [r[1] for r in imported.readings] == [0.5, 2.0]
    assert imported.interval_s == 900
    exported = by_muid[OTHER]
    assert (exported.obis, exported.direction, exported.readings[0][1]) == ("1-0:2.29.0*255", "export", 0.0)


def test_record_with_several_obis_keys_gives_one_reading_per_key() -> None:
    result = normalize(raw(record(**{"0100011D00FF": 0.25, "0100021D00FF": 0.0, "0100010700FF": 1.5})))
    assert sorted(b.obis for b in result.batches) == ["1-0:1.29.0*255", "1-0:1.7.0*255", "1-0:2.29.0*255"]
    power = next(b for b in result.batches if b.obis == "1-0:1.7.0*255")
    assert (power.quantity, power.unit) == ("active_power", "kW")


def test_power_measurement_is_kept_apart_from_energy() -> None:
    power = {**record(**{"0100010700FF": 3.2}), "measurement": "power"}
    result = normalize(raw(power))
    assert [b.measurement for b in result.batches] == ["power"]


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("not an object", DlqReason.INVALID_SHAPE),
        ({**record(), "measurement": "volume"}, DlqReason.INVALID_SHAPE),
        ({"measurement": "energy", "timestamp": "2023-02-01T00:00:00Z", "0100011D00FF": 1}, DlqReason.MISSING_MUID),
        (record(muid=None), DlqReason.MISSING_MUID),
        (record(muid="not-a-uuid"), DlqReason.INVALID_MUID),
        (record(muid=42), DlqReason.INVALID_MUID),
        ({**record(), "timestamp": None}, DlqReason.MISSING_TIMESTAMP),
        (record(ts="yesterday"), DlqReason.INVALID_TIMESTAMP),
        (record(ts="2023-02-01T00:00:00"), DlqReason.INVALID_TIMESTAMP),
        (record(**{"0100011D00FF": "0.5"}), DlqReason.INVALID_VALUE),
        (record(**{"0100011D00FF": None}), DlqReason.INVALID_VALUE),
        (record(**{"0100011D00FF": True}), DlqReason.INVALID_VALUE),
        (record(**{"0100011D00FF": math.nan}), DlqReason.NON_FINITE_VALUE),
        (record(**{"0100011D00FF": math.inf}), DlqReason.NON_FINITE_VALUE),
        (record(**{"01000G1D00FF": 1.0}), DlqReason.INVALID_OBIS),
        (record(**{"0100011D00": 1.0}), DlqReason.INVALID_OBIS),
        ({"measurement": "energy", "timestamp": "2023-02-01T00:00:00Z", "tags": {"muid": MUID}}, DlqReason.NO_READINGS),
    ],
)
def test_bad_record_goes_to_dlq_and_good_records_still_pass(bad: Any, reason: DlqReason) -> None:
    good = record("2023-02-01T00:15:00.000Z")
    result = normalize(raw(bad, good))
    assert [d.reason for d in result.dead_letters] == [reason]
    dead = result.dead_letters[0]
    assert dead.stage == "normalizer"
    assert dead.source is not None and dead.source.key == "challenge/x.json"
    assert dead.message
    assert result.readings_out == 1


def test_bad_channel_of_a_record_does_not_drop_its_good_channels() -> None:
    result = normalize(raw(record(**{"0100011D00FF": 0.5, "0100021D00FF": "oops"})))
    assert [d.reason for d in result.dead_letters] == [DlqReason.INVALID_VALUE]
    assert result.dead_letters[0].record == {
        "measurement": "energy",
        "timestamp": "2023-02-01T00:00:00.000Z",
        "tags": {"muid": MUID, "quality": "measured"},
        "0100021D00FF": "oops",
    }
    assert [(b.obis, b.readings[0][1]) for b in result.batches] == [("1-0:1.29.0*255", 0.5)]


def test_duplicate_timestamp_with_different_values_is_rejected_whole() -> None:
    result = normalize(
        raw(record(**{"0100011D00FF": 0.5}), record(**{"0100011D00FF": 0.7}), record("2023-02-01T00:15:00Z"))
    )
    assert [d.reason for d in result.dead_letters] == [DlqReason.DUPLICATE_CONFLICT]
    assert "appears more than once" in result.dead_letters[0].message
    assert [r[0].minute for r in result.batches[0].readings] == [15]


def test_exact_duplicate_is_kept_once() -> None:
    result = normalize(raw(record(), record()))
    assert result.dead_letters == []
    assert result.readings_out == 1


def test_timestamps_with_offsets_are_converted_to_utc() -> None:
    result = normalize(raw(record("2023-02-01T01:00:00+01:00")))
    ts = result.batches[0].readings[0][0]
    assert ts == datetime(2023, 2, 1, tzinfo=UTC)
    assert ts.utcoffset() is not None and ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_interval_is_the_smallest_step() -> None:
    stamps = [datetime(2023, 2, 1, 0, m, tzinfo=UTC) for m in (0, 15, 45)]
    assert infer_interval_s(stamps) == 900
    assert infer_interval_s(stamps[:1]) is None


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data folder {SHARED_DATA} is absent")
@pytest.mark.parametrize(("muid", "obis_hex"), sorted(REAL_FILES.items()))
def test_real_files_decode_completely(muid: str, obis_hex: str) -> None:
    records = json.loads((SHARED_DATA / f"{muid}.json").read_bytes())["data"]
    result = normalize(raw(*records))
    assert result.dead_letters == []
    (batch,) = result.batches
    assert batch.muid == UUID(muid)
    assert batch.obis_hex == obis_hex
    assert len(batch.readings) == 2688
    assert batch.interval_s == 900
    # Values stay exactly as delivered, including the JSON integer 0 and binary float noise.
    delivered = sorted((r["timestamp"], float(r[obis_hex])) for r in records)
    assert [r[1] for r in batch.readings] == [v for _, v in delivered]
