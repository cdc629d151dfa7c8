"""The normalizer's domain logic, without Kafka: decoding, batching per channel, and dead letters."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from meterflow_contracts import RAW, READINGS_V2, DlqReason, RawBatch, SourcePosition
from meterflow_normalizer.domain import decode_raw, infer_interval_s, normalize
from real_data import REAL_FILES, SHARED_DATA

MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
OTHER = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
NOW = datetime(2023, 3, 1, tzinfo=UTC)  # "now" of the normalizer: readings up to 2 days ahead are accepted


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
        (record(**{"0100011D00FF": -math.inf}), DlqReason.NON_FINITE_VALUE),
        (record(**{"0100011D00FF": 10**400}), DlqReason.NON_FINITE_VALUE),
        (record(**{"0100011D00FF": {"v": 1}}), DlqReason.INVALID_VALUE),
        (record(**{"01000G1D00FF": 1.0}), DlqReason.INVALID_OBIS),
        (record(**{"0100011D00": 1.0}), DlqReason.INVALID_OBIS),
        (record(**{"FFFFFFFFFFFF": 1.0}), DlqReason.INVALID_OBIS),
        (record(**{"0100FF1D00FF": 1.0}), DlqReason.INVALID_OBIS),
        (record(**{"0100011D00FF": -0.5}), DlqReason.NEGATIVE_ENERGY),
        (record(**{"0100010800FF": -1}), DlqReason.NEGATIVE_ENERGY),
        (record(ts="0001-01-01T00:00:00+05:00"), DlqReason.INVALID_TIMESTAMP),
        (record(ts="9999-12-31T23:00:00-05:00"), DlqReason.INVALID_TIMESTAMP),
        (record(ts="1999-12-31T23:45:00Z"), DlqReason.TIMESTAMP_OUT_OF_RANGE),
        (record(ts="1900-01-01T00:00:00Z"), DlqReason.TIMESTAMP_OUT_OF_RANGE),
        (record(ts="2200-01-01T00:00:00Z"), DlqReason.TIMESTAMP_OUT_OF_RANGE),
        (record(ts="2023-03-03T00:15:00Z"), DlqReason.TIMESTAMP_OUT_OF_RANGE),
        ({"measurement": "energy", "timestamp": "2023-02-01T00:00:00Z", "tags": {"muid": MUID}}, DlqReason.NO_READINGS),
    ],
)
def test_bad_record_goes_to_dlq_and_good_records_still_pass(bad: Any, reason: DlqReason) -> None:
    good = record("2023-02-01T00:15:00.000Z")
    result = normalize(raw(bad, good), now=NOW)
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


def test_conflicting_duplicate_the_later_record_wins_and_the_earlier_is_evidence() -> None:
    result = normalize(
        raw(record(**{"0100011D00FF": 0.5}), record(**{"0100011D00FF": 0.7}), record("2023-02-01T00:15:00Z"))
    )
    assert [d.reason for d in result.dead_letters] == [DlqReason.DUPLICATE_CONFLICT]
    assert result.dead_letters[0].record == record(**{"0100011D00FF": 0.5})
    assert "appears again" in result.dead_letters[0].message
    assert [(r[0].minute, r[1]) for r in result.batches[0].readings] == [(0, 0.7), (15, 0.0117)]


def test_three_conflicting_values_keep_the_last_and_dead_letter_both_earlier() -> None:
    values = [0.5, 0.7, 0.9]
    result = normalize(raw(*(record(**{"0100011D00FF": v}) for v in values)))
    assert [d.record["0100011D00FF"] for d in result.dead_letters] == [0.5, 0.7]
    assert {d.reason for d in result.dead_letters} == {DlqReason.DUPLICATE_CONFLICT}
    assert [r[1] for r in result.batches[0].readings] == [0.9]


def test_conflict_evidence_is_only_the_conflicting_channel() -> None:
    first = record(**{"0100011D00FF": 0.5, "0100021D00FF": 0.0})
    result = normalize(raw(first, record(**{"0100011D00FF": 0.7, "0100021D00FF": 0.0})))
    (dead,) = result.dead_letters
    assert dead.record == record(**{"0100011D00FF": 0.5})
    assert sorted((b.obis, b.readings[0][1]) for b in result.batches) == [
        ("1-0:1.29.0*255", 0.7),
        ("1-0:2.29.0*255", 0.0),
    ]


def test_exact_duplicate_is_kept_once() -> None:
    result = normalize(raw(record(), record()))
    assert result.dead_letters == []
    assert result.readings_out == 1


def test_a_hostile_timestamp_rejects_its_record_only() -> None:
    good = [record(f"2023-02-01T00:{m:02}:00Z") for m in (0, 15, 30)]
    hostile = record("0001-01-01T00:00:00+05:00")
    result = normalize(raw(good[0], hostile, *good[1:]))
    assert [(d.reason, d.record) for d in result.dead_letters] == [(DlqReason.INVALID_TIMESTAMP, hostile)]
    assert result.readings_out == 3


class _Hostile(dict[str, Any]):
    """A record whose reading raises what no check expects (JSON cannot build one; a bug could)."""

    def keys(self) -> Any:
        raise RuntimeError("boom")


def test_any_other_exception_rejects_one_record_as_unexpected_error() -> None:
    hostile = _Hostile(record())
    result = normalize(raw(hostile, record("2023-02-01T00:15:00Z")))
    assert [d.reason for d in result.dead_letters] == [DlqReason.UNEXPECTED_ERROR]
    assert "boom" in result.dead_letters[0].message
    assert result.readings_out == 1


def test_an_exception_in_one_channel_keeps_the_record_s_other_channels() -> None:
    # A key that is not text: parsing it raises TypeError, which no validation rule names.
    result = normalize(raw(record(**{"0100011D00FF": 0.5}) | {1: 0.7}))  # type: ignore[dict-item]
    assert [d.reason for d in result.dead_letters] == [DlqReason.UNEXPECTED_ERROR]
    assert [b.readings[0][1] for b in result.batches] == [0.5]


def test_timestamps_up_to_two_days_ahead_are_accepted() -> None:
    result = normalize(raw(record("2023-03-02T23:45:00Z")), now=NOW)
    assert result.dead_letters == []
    assert result.readings_out == 1


@pytest.mark.parametrize(
    "obis_key",
    [
        "0100010700FF",  # instantaneous power may be negative (a generator feeding in)
        "0100100800FF",  # net energy register |+A|-|-A|: negative when export exceeds import
        "0100050800FF",  # reactive energy QI register at 0 is fine, and so is any positive value below
    ],
)
def test_negative_values_are_kept_where_they_can_be_true(obis_key: str) -> None:
    value = 0.0 if obis_key == "0100050800FF" else -1.5
    result = normalize(raw(record(**{obis_key: value})))
    assert result.dead_letters == []
    assert result.batches[0].readings[0][1] == value


def quarter_hours(*minutes: int, obis_key: str = "0100011D00FF") -> list[dict[str, Any]]:
    start = datetime(2023, 2, 1, tzinfo=UTC)
    stamps = [(start + timedelta(minutes=m)).isoformat().replace("+00:00", "Z") for m in minutes]
    return [record(ts, **{obis_key: 0.1}) for ts in stamps]


def test_energy_reading_off_its_channel_grid_goes_to_dlq() -> None:
    records = quarter_hours(0, 15, 22, 30, 45, 60)
    result = normalize(raw(*records))
    assert [(d.reason, d.record) for d in result.dead_letters] == [(DlqReason.OFF_GRID_TIMESTAMP, records[2])]
    (batch,) = result.batches
    assert [r[0].minute for r in batch.readings] == [0, 15, 30, 45, 0]
    assert batch.interval_s == 900


def test_the_grid_is_the_most_frequent_step_so_a_stray_reading_cannot_redefine_it() -> None:
    result = normalize(raw(*quarter_hours(0, 15, 16, 30, 45, 60, 75)))
    assert [d.record["timestamp"] for d in result.dead_letters] == ["2023-02-01T00:16:00Z"]


def test_a_series_shifted_off_the_grid_is_rejected_whole() -> None:
    result = normalize(raw(*quarter_hours(7, 22, 37, 52)))
    assert [d.reason for d in result.dead_letters] == [DlqReason.OFF_GRID_TIMESTAMP] * 4
    assert result.batches == []


def test_gaps_of_whole_intervals_and_days_stay_on_the_grid() -> None:
    result = normalize(raw(*quarter_hours(0, 15, 60, 2 * 1440 + 30, 2 * 1440 + 45)))
    assert result.dead_letters == []
    assert result.readings_out == 5


def test_sub_second_energy_timestamp_is_off_grid() -> None:
    records = [*quarter_hours(0, 15, 30), record("2023-02-01T00:45:00.500Z")]
    result = normalize(raw(*records))
    assert [d.reason for d in result.dead_letters] == [DlqReason.OFF_GRID_TIMESTAMP]


@pytest.mark.parametrize(
    "records",
    [
        quarter_hours(0, 7, 15, 22, obis_key="0100010700FF"),  # power channels have no grid
        quarter_hours(7),  # one reading: no interval known
        quarter_hours(5, 12),  # a 7-minute step divides no hour: no grid known
        [record(f"2023-02-{d:02}T23:00:00Z") for d in (1, 2, 3)],  # daily at local midnight: not on the UTC grid
    ],
)
def test_no_grid_check_without_a_known_sub_hourly_energy_interval(records: list[dict[str, Any]]) -> None:
    result = normalize(raw(*records))
    assert result.dead_letters == []
    assert result.readings_out == len(records)


@pytest.mark.parametrize("number", [b"1" + b"0" * 400, b"1e400", b"NaN", b"-Infinity"])
def test_a_number_beyond_a_double_in_a_raw_message_costs_only_its_record(number: bytes) -> None:
    _, value = RAW.serialize(raw(record(**{"0100011D00FF": 0.5}), record("2023-02-01T00:15:00Z")))
    value = value.replace(b"0.5", number, 1)
    result = normalize(decode_raw(value))
    assert [d.reason for d in result.dead_letters] == [DlqReason.NON_FINITE_VALUE]
    assert result.readings_out == 1


def test_a_message_that_is_no_raw_batch_still_raises() -> None:
    with pytest.raises(ValueError, match="expected a string key"):
        decode_raw(b"{not json")
    with pytest.raises(ValueError, match="records"):
        decode_raw(b'{"source": {}, "records": 3}')


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


def test_columns_are_what_v2_carries_and_valid_on_the_wire() -> None:
    """The columnar messages (meter.readings.v2): ascending microsecond timestamps, one code per quality,
    the records' indexes in the object, an int value as a double; they pass the contract's own validation."""
    estimated = record("2023-02-01T00:30:00Z", **{"0100011D00FF": 3})
    estimated["tags"] = {"muid": MUID, "quality": "estimated"}
    result = normalize(
        raw(
            record("2023-02-01T00:15:00.000Z", **{"0100011D00FF": 2.5}),
            record("2023-02-01T01:00:00+01:00", **{"0100011D00FF": 0.5}),  # 00:00 UTC
            estimated,
        ),
        now=NOW,
    )
    (columns,) = result.columns
    start = int(datetime(2023, 2, 1, tzinfo=UTC).timestamp()) * 1_000_000
    assert columns.ts_us == [start, start + 900_000_000, start + 1_800_000_000]
    assert columns.values == [0.5, 2.5, 3.0] and all(type(v) is float for v in columns.values)
    assert (columns.qualities, columns.quality_codes) == (["measured", "estimated"], [0, 0, 1])
    assert columns.record_indexes == [1, 0, 2]
    assert columns.interval_s == 900
    assert READINGS_V2.deserialize(READINGS_V2.encode_value(columns)) == columns
