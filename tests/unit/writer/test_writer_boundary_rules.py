"""The writer's boundary check (validation.screen): each rule of docs/contracts.md "Validation", without I/O."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from meterflow_contracts import DlqReason, ReadingBatch
from meterflow_harness.messages import reading_batch
from meterflow_writer.validation import screen

M = uuid.UUID("11111111-1111-4111-8111-111111111111")
NOW = datetime(2026, 1, 10, tzinfo=UTC)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def batch(values: list[float], obis: str = "1-0:1.29.0*255", start: datetime = T0) -> ReadingBatch:
    made = reading_batch(M, obis, start, values)
    return made.model_copy(update={"record_indexes": list(range(10, 10 + len(values)))})


def with_reading(
    made: ReadingBatch, index: int, ts: datetime | None = None, value: float | None = None
) -> ReadingBatch:
    readings = list(made.readings)
    old_ts, old_value, quality = readings[index]
    readings[index] = (ts or old_ts, old_value if value is None else value, quality)
    return made.model_copy(update={"readings": readings})


def test_a_good_message_passes_unchanged() -> None:
    made = batch([1.0, 2.0, 0.0])
    screened = screen(made, NOW)
    assert screened.kept is made and screened.dead == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, DlqReason.NON_FINITE_VALUE),
        (math.inf, DlqReason.NON_FINITE_VALUE),
        (-math.inf, DlqReason.NON_FINITE_VALUE),
        (-0.5, DlqReason.NEGATIVE_ENERGY),
    ],
)
def test_bad_values_are_cut_out_with_their_reason(value: float, reason: DlqReason) -> None:
    made = with_reading(batch([1.0, 2.0, 3.0]), 1, value=value)
    screened = screen(made, NOW)
    assert screened.kept is not None
    assert [r[1] for r in screened.kept.readings] == [1.0, 3.0]
    assert screened.kept.record_indexes == [10, 12]
    [dead] = screened.dead
    assert (dead.reason, dead.stage, dead.source) == (reason, "writer", made.source)
    assert len(dead.record["readings"]) == 1 and dead.record["record_indexes"] == [11]
    assert screened.rejected_readings == 1


def test_negative_values_are_fine_where_they_can_be_negative() -> None:
    # 1-0:16.7.0 is active power (sum of import and export): negative means exporting.
    power = reading_batch(M, "1-0:16.7.0*255", T0, [-1.0, -2.0])
    assert screen(power, NOW).kept is power


@pytest.mark.parametrize(
    "ts",
    [
        datetime(1999, 12, 31, 23, 45, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC),
        NOW + timedelta(days=2, minutes=15),
        datetime(2200, 1, 1, tzinfo=UTC),
    ],
)
def test_timestamps_out_of_range(ts: datetime) -> None:
    made = with_reading(batch([1.0, 2.0]), 0, ts=ts)
    screened = screen(made, NOW)
    assert [d.reason for d in screened.dead] == [DlqReason.TIMESTAMP_OUT_OF_RANGE]
    assert screened.kept is not None and len(screened.kept.readings) == 1


def test_the_edges_of_the_range_are_accepted() -> None:
    made = with_reading(batch([1.0, 2.0]), 0, ts=datetime(2000, 1, 1, tzinfo=UTC))
    made = with_reading(made, 1, ts=NOW + timedelta(days=2))
    assert screen(made, NOW).dead == []


def test_energy_off_its_interval_grid() -> None:
    made = with_reading(batch([1.0, 2.0, 3.0]), 2, ts=T0 + timedelta(minutes=31))
    screened = screen(made, NOW)
    assert [d.reason for d in screened.dead] == [DlqReason.OFF_GRID_TIMESTAMP]
    assert screened.kept is not None and len(screened.kept.readings) == 2


def test_power_has_no_grid() -> None:
    power = reading_batch(M, "1-0:1.7.0*255", T0 + timedelta(minutes=7), [1.0, 2.0])
    assert screen(power, NOW).dead == []


@pytest.mark.parametrize(
    "obis", ["255-255:255.255.255*255", "1-0:1.29.0", "0100011D00FF", "nonsense", "1-0:1.255.0*255"]
)
def test_an_invalid_or_unnormalized_obis_rejects_the_whole_message(obis: str) -> None:
    made = batch([1.0, 2.0]).model_copy(update={"obis": obis})
    screened = screen(made, NOW)
    assert screened.kept is None
    [dead] = screened.dead
    assert dead.reason == DlqReason.INVALID_OBIS and len(dead.record["readings"]) == 2


def test_several_reasons_in_one_message_give_one_dead_letter_each() -> None:
    made = batch([1.0, 2.0, 3.0, 4.0, 5.0])
    made = with_reading(made, 0, value=math.nan)
    made = with_reading(made, 1, value=-1.0)
    made = with_reading(made, 3, value=math.inf)
    screened = screen(made, NOW)
    assert sorted((d.reason, len(d.record["readings"])) for d in screened.dead) == [
        (DlqReason.NEGATIVE_ENERGY, 1),
        (DlqReason.NON_FINITE_VALUE, 2),
    ]
    assert screened.kept is not None and [r[1] for r in screened.kept.readings] == [3.0, 5.0]


def test_nothing_left_means_nothing_to_write() -> None:
    made = with_reading(batch([1.0]), 0, value=math.nan)
    assert screen(made, NOW).kept is None


def test_the_writer_agrees_with_the_normalizer_on_net_energy_and_daily_registers() -> None:
    # Net energy (C = 16) is negative whenever export exceeds import; a daily register read at local midnight
    # (23:00 UTC in winter in Zurich) has an interval that divides no hour, so it has no UTC grid to be off.
    net = batch([1.0, -2.0], obis="1-0:16.29.0*255")
    assert screen(net, NOW).kept is net
    daily = batch([5.0, 6.0], obis="1-0:1.8.0*255", start=datetime(2026, 1, 1, 23, tzinfo=UTC))
    daily = daily.model_copy(
        update={
            "interval_s": 86_400,
            "readings": [
                (datetime(2026, 1, 1 + i, 23, tzinfo=UTC), v, q) for i, (_, v, q) in enumerate(daily.readings)
            ],
        }
    )
    assert screen(daily, NOW).kept is daily
