"""The writer's pure logic: batching bounds, de-duplication, isolating rejected rows, refresh windows."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from meterflow_contracts import ReadingBatch, SourcePosition
from meterflow_writer.config import Settings
from meterflow_writer.domain import (
    PendingBatch,
    Row,
    WriteOutcome,
    day_windows,
    may_share_a_key,
    only_readings,
    rejected_by_message,
    rows_of,
    touched_days,
    unique_rows,
    write_isolating_rejects,
)

T0 = datetime(2023, 2, 1, tzinfo=UTC)
M1 = uuid.UUID("11111111-1111-4111-8111-111111111111")
M2 = uuid.UUID("22222222-2222-4222-8222-222222222222")


def batch(
    muid: uuid.UUID, values: Sequence[float], *, start: int = 0, step: int = 1, obis: str = "1-0:1.29.0*255"
) -> ReadingBatch:
    return ReadingBatch(
        muid=muid,
        obis=obis,
        obis_hex="0100011D00FF",
        quantity="active_energy",
        direction="import",
        unit="kWh",
        measurement="energy",
        interval_s=900,
        readings=[(T0 + timedelta(minutes=15 * (start + i * step)), v, "measured") for i, v in enumerate(values)],
        source=SourcePosition(bucket="b", key="k", etag="e", chunk_index=0, record_start=0, record_end=len(values)),
    )


def test_pending_batch_tracks_rows_offsets_and_time() -> None:
    pending = PendingBatch(generation=3)
    assert not pending.is_due(100.0, max_rows=10, max_seconds=1.0)
    assert pending.seconds_left(100.0, 1.0) == 1.0
    pending.add(batch(M1, [1.0, 2.0]), "t", 0, offset=41, now=100.0)
    pending.add(batch(M2, [3.0]), "t", 1, offset=7, now=100.2)
    pending.note_offset("t", 0, offset=42, now=100.3)  # a dead-lettered message still moves the offset
    assert len(pending) == 3
    assert pending.offsets == {("t", 0): 43, ("t", 1): 8}
    assert pending.seconds_left(100.5, 1.0) == pytest.approx(0.5)
    assert not pending.is_due(100.5, max_rows=10, max_seconds=1.0)
    assert pending.is_due(101.0, max_rows=10, max_seconds=1.0)
    assert pending.is_due(100.5, max_rows=3, max_seconds=1.0)


def test_a_batch_is_bounded_by_rows_but_takes_one_oversized_message() -> None:
    pending = PendingBatch()
    assert pending.fits(500, max_rows=100)  # empty: a message larger than the bound goes alone
    pending.add(batch(M1, [0.0] * 60), "t", 0, 0, 0.0)
    assert pending.fits(40, max_rows=100)
    assert not pending.fits(41, max_rows=100)


def test_unique_rows_keeps_the_latest_delivery() -> None:
    ts = T0
    rows: list[Row] = [
        (M1, "o", ts, 1.0, "a", None, None),
        (M2, "o", ts, 2.0, "a", None, None),
        (M1, "o", ts, 3.0, "b", None, None),
    ]
    assert unique_rows(rows) == [(M1, "o", ts, 3.0, "b", None, None), (M2, "o", ts, 2.0, "a", None, None)]
    assert unique_rows(rows[:2]) is not None and unique_rows(rows[:2]) == rows[:2]


def test_pending_batch_deduplicates_only_when_a_key_can_repeat() -> None:
    pending = PendingBatch()
    pending.add(batch(M1, [1.0, 2.0]), "t", 0, 0, 0.0)
    pending.add(batch(M2, [1.0, 2.0]), "t", 1, 0, 0.0)
    assert pending.unique_rows() is pending.rows  # one message per series, ascending: no pass needed
    pending.add(batch(M1, [5.0], start=1), "t", 0, 1, 0.0)  # a corrected reading of M1 in the same batch
    rows = pending.unique_rows()
    assert len(rows) == 4
    assert (M1, "1-0:1.29.0*255", T0 + timedelta(minutes=15), 5.0, "measured", None, None) in rows

    repeated = PendingBatch()
    repeated.add(batch(M1, [1.0, 2.0], step=0), "t", 0, 0, 0.0)  # the same timestamp twice in one message
    assert len(repeated.unique_rows()) == 1


def sealed(*batches: ReadingBatch) -> PendingBatch:
    pending = PendingBatch()
    for offset, message in enumerate(batches):
        pending.add(message, "t", 0, offset, 0.0)
    pending.seal(lambda rows: b"")
    return pending


def test_batches_may_share_a_key_only_through_a_channel_whose_spans_meet() -> None:
    day_one = sealed(batch(M1, [1.0] * 96), batch(M2, [1.0] * 96))
    assert day_one.spans[(M1, "1-0:1.29.0*255")] == (T0, T0 + timedelta(minutes=15 * 95), 96)
    day_two = sealed(batch(M1, [2.0] * 96, start=96))
    other_meter = sealed(batch(uuid.UUID(int=3), [2.0] * 96))
    other_channel = sealed(batch(M1, [2.0] * 96, obis="1-0:2.29.0*255"))
    assert not may_share_a_key(day_one.spans, day_two.spans)  # the next day of the same series: written at once
    assert not may_share_a_key(day_one.spans, other_meter.spans)
    assert not may_share_a_key(day_one.spans, other_channel.spans)

    last_reading_again = sealed(batch(M1, [3.0], start=95))
    spanning = sealed(batch(M2, [3.0, 3.0], start=-1, step=97))  # its two readings straddle day one
    for later in (last_reading_again, spanning):
        assert may_share_a_key(day_one.spans, later.spans)
        assert may_share_a_key(later.spans, day_one.spans)


class Refused(Exception):
    pass


def refusing_negatives(calls: list[int]) -> object:
    async def write(rows: Sequence[Row]) -> WriteOutcome:
        calls.append(len(rows))
        if any(row[3] < 0 for row in rows):
            raise Refused("value must not be negative")
        return WriteOutcome(inserted=len(rows))

    return write


async def test_rejected_rows_are_isolated_and_the_rest_is_written() -> None:
    rows: list[Row] = [(M1, "o", T0 + timedelta(minutes=15 * i), float(i), "q", None, None) for i in range(1000)]
    rows[17] = (*rows[17][:3], -1.0, "q", None, None)
    rows[600] = (*rows[600][:3], -2.0, "q", None, None)
    calls: list[int] = []
    outcome, rejected = await write_isolating_rejects(rows, refusing_negatives(calls), lambda e: isinstance(e, Refused))  # type: ignore[arg-type]
    assert outcome == WriteOutcome(inserted=998)
    assert [r.row for r in rejected] == [rows[17], rows[600]]
    assert all("negative" in r.error for r in rejected)
    assert len(calls) <= 2 * 2 * 10 + 1  # about 2·k·log2(n) transactions for k bad rows among n


async def test_other_errors_are_not_taken_for_rejections() -> None:
    async def down(rows: Sequence[Row]) -> WriteOutcome:
        raise ConnectionError("database restarting")

    with pytest.raises(ConnectionError):
        await write_isolating_rejects([(M1, "o", T0, 1.0, "q", None, None)], down, lambda e: isinstance(e, Refused))
    assert await write_isolating_rejects([], down, lambda e: True) == (WriteOutcome(), [])


async def test_rejections_are_traced_to_the_latest_message_carrying_the_key() -> None:
    first = batch(M1, [1.0, 2.0, 3.0])
    other = batch(M2, [1.0])
    latest = batch(M1, [-1.0], start=1)
    rows: list[Row] = [(M1, first.obis, T0 + timedelta(minutes=15), -1.0, "measured", None, None)]
    _, rejected = await write_isolating_rejects(rows, refusing_negatives([]), lambda e: isinstance(e, Refused))  # type: ignore[arg-type]
    grouped = rejected_by_message([first, other, latest], rejected)
    assert [(message, [r.row for r in rs]) for message, rs in grouped] == [(latest, rows)]
    cut = only_readings(first, rows)
    assert cut.readings == [first.readings[1]]
    assert cut.source == first.source and cut.muid == first.muid


def test_day_windows_merge_consecutive_days() -> None:
    day = timedelta(days=1)
    days = [T0 + 3 * day, T0, T0 + day, T0 + 3 * day, T0 + 7 * day]
    assert day_windows(days) == [(T0, T0 + 2 * day), (T0 + 3 * day, T0 + 4 * day), (T0 + 7 * day, T0 + 8 * day)]
    assert day_windows([]) == []


def test_settings_read_the_shared_variables_and_require_the_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "WRITER_DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "WRITER_KAFKA__BOOTSTRAP_SERVERS"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match=r"database_url|DATABASE_URL"):
        Settings()
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/meterflow")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("WRITER_BATCH_MAX_ROWS", "1000")
    settings = Settings()
    assert settings.kafka.bootstrap_servers == "kafka:9092"
    assert settings.batch_max_rows == 1000
    assert settings.refresh_aggregates is True
    monkeypatch.setenv("WRITER_BATCH_MAX_S", "0")
    with pytest.raises(ValueError, match="batch_max_s"):
        Settings()


def test_touched_days_are_the_utc_days_of_each_series() -> None:
    zurich = timezone(timedelta(hours=1))
    rows: list[Row] = [
        (M1, "a", T0 + timedelta(hours=23), 1.0, "q", None, None),
        (M1, "a", T0 + timedelta(hours=24), 1.0, "q", None, None),  # next UTC day
        (M1, "b", T0, 1.0, "q", None, None),
        (M2, "a", datetime(2023, 2, 1, 0, 30, tzinfo=zurich), 1.0, "q", None, None),  # 23:30 UTC on Jan 31
        (M1, "a", T0 + timedelta(hours=1), 1.0, "q", None, None),  # back in the first day: no new bucket
    ]
    assert sorted(touched_days(rows), key=str) == sorted(
        [(M1, "a", T0), (M1, "a", T0 + timedelta(days=1)), (M1, "b", T0), (M2, "a", T0 - timedelta(days=1))], key=str
    )


def test_unique_rows_keep_the_newest_source_version_whatever_the_delivery_order() -> None:
    older, newer = datetime(2023, 3, 1, tzinfo=UTC), datetime(2023, 3, 2, tzinfo=UTC)
    correction: Row = (M1, "o", T0, 2.0, "measured", newer, 0)
    original: Row = (M1, "o", T0, 1.0, "measured", older, 5)
    unknown: Row = (M1, "o", T0, 9.0, "measured", None, None)
    assert unique_rows([correction, original, unknown]) == [correction]
    assert unique_rows([original, correction]) == [correction]
    later_record: Row = (M1, "o", T0, 3.0, "measured", newer, 1)
    assert unique_rows([later_record, correction]) == [later_record]  # same object: the later record wins
    assert unique_rows([unknown, (*unknown[:3], 4.0, "measured", None, None)])[0][3] == 4.0  # ties: latest


def test_rows_of_carry_the_source_version() -> None:
    modified = datetime(2023, 3, 1, tzinfo=UTC)
    made = batch(M1, [1.0, 2.0])
    made = made.model_copy(
        update={"record_indexes": [7, 9], "source": made.source.model_copy(update={"last_modified": modified})}
    )
    assert [row[5:] for row in rows_of(made)] == [(modified, 7), (modified, 9)]
    assert [row[5:] for row in rows_of(batch(M1, [1.0]))] == [(None, None)]


def test_the_cut_message_keeps_the_record_indexes_of_its_readings() -> None:
    made = batch(M1, [1.0, 2.0, 3.0]).model_copy(update={"record_indexes": [4, 5, 6]})
    cut = only_readings(made, [row for row in rows_of(made) if row[3] != 2.0])
    assert [r[1] for r in cut.readings] == [1.0, 3.0]
    assert cut.record_indexes == [4, 6]
