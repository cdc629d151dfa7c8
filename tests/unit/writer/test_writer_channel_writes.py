"""The writer's pure channels logic: what the messages say about each channel, and what a write adds to the
channels table (span, rows inserted, metadata), sorted for one lock order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from meterflow_contracts import ReadingBatch, SourcePosition
from meterflow_writer.domain import ChannelInfo, ChannelWrite, PendingBatch, Row, channel_infos, channel_writes

T0 = datetime(2023, 2, 1, tzinfo=UTC)
M1 = uuid.UUID("11111111-1111-4111-8111-111111111111")
M2 = uuid.UUID("22222222-2222-4222-8222-222222222222")
IMPORT, EXPORT = "1-0:1.29.0*255", "1-0:2.29.0*255"
ENERGY_IMPORT = ChannelInfo("active_energy", "import", "kWh", "energy", 900)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def message(muid: uuid.UUID, obis: str, minutes: list[int], *, interval_s: int | None = 900) -> ReadingBatch:
    return ReadingBatch(
        muid=muid,
        obis=obis,
        obis_hex="0100011D00FF",
        quantity="active_energy",
        direction="import" if obis == IMPORT else "export",
        unit="kWh",
        measurement="energy",
        interval_s=interval_s,
        readings=[(at(m), 1.0, "measured") for m in minutes],
        source=SourcePosition(bucket="b", key="k", etag="e", chunk_index=0, record_start=0, record_end=len(minutes)),
    )


def rows(muid: uuid.UUID, obis: str, minutes: list[int]) -> list[Row]:
    return [(muid, obis, at(m), 1.0, "measured", None, None) for m in minutes]


def test_a_copy_adds_every_row_and_the_span_of_each_channel_sorted_by_key() -> None:
    written = rows(M2, IMPORT, [0, 15, 30]) + rows(M1, EXPORT, [45]) + rows(M1, IMPORT, [60, 75])
    infos = channel_infos([message(M1, IMPORT, [60, 75]), message(M1, EXPORT, [45], interval_s=None)])

    writes = channel_writes(written, infos)

    assert [(w.muid, w.obis, w.first_ts, w.last_ts, w.inserted) for w in writes] == [
        (M1, IMPORT, at(60), at(75), 2),
        (M1, EXPORT, at(45), at(45), 1),
        (M2, IMPORT, at(0), at(30), 3),
    ]
    assert writes[0] == ChannelWrite(M1, IMPORT, "active_energy", "import", "kWh", "energy", 900, at(60), at(75), 2)
    assert (writes[1].direction, writes[1].interval_s) == ("export", None)


def test_rows_of_one_channel_out_of_order_and_in_several_runs_make_one_write() -> None:
    written = rows(M1, IMPORT, [30, 0, 45]) + rows(M2, IMPORT, [0]) + rows(M1, IMPORT, [-15, 15])

    writes = channel_writes(written, {})

    assert [(w.muid, w.first_ts, w.last_ts, w.inserted) for w in writes] == [
        (M1, at(-15), at(45), 5),
        (M2, at(0), at(0), 1),
    ]


def test_the_upsert_path_adds_only_inserted_rows_and_skips_channels_without_new_rows() -> None:
    written = rows(M1, IMPORT, [0, 15, 30]) + rows(M1, EXPORT, [0, 15]) + rows(M2, IMPORT, [0])
    inserted = {(M1, IMPORT): 1, (M1, EXPORT): 0}  # M2 absent: the database inserted none of its rows

    writes = channel_writes(written, {}, inserted)

    assert [(w.muid, w.obis, w.first_ts, w.last_ts, w.inserted) for w in writes] == [(M1, IMPORT, at(0), at(30), 1)]


def test_a_channel_without_a_message_is_described_from_its_obis_code_and_rows() -> None:
    written = rows(M1, "1-0:1.7.0*255", [0]) + rows(M1, "no-obis", [30, 0, 60, 5])

    writes = channel_writes(written, {})

    assert [(w.quantity, w.direction, w.unit, w.measurement, w.interval_s) for w in writes] == [
        ("active_power", "import", "kW", "power", None),  # one reading: no interval
        ("unknown", None, None, "unknown", 300),  # the smallest step, as the normalizer infers it
    ]


def test_channel_infos_take_the_latest_message_and_the_latest_known_interval() -> None:
    first = message(M1, IMPORT, [0, 15])
    single = message(M1, IMPORT, [30], interval_s=None)
    corrected = message(M1, IMPORT, [45, 75], interval_s=1800).model_copy(update={"unit": "Wh"})

    assert channel_infos([first, single]) == {(M1, IMPORT): ENERGY_IMPORT}
    assert channel_infos([first, single, corrected]) == {
        (M1, IMPORT): ChannelInfo("active_energy", "import", "Wh", "energy", 1800)
    }
    assert channel_infos([single]) == {(M1, IMPORT): ChannelInfo("active_energy", "import", "kWh", "energy", None)}


def test_sealing_a_batch_records_its_channels() -> None:
    pending = PendingBatch()
    pending.add(message(M1, IMPORT, [0, 15]), "t", 0, offset=1, now=1.0)
    pending.add(message(M2, EXPORT, [0]), "t", 1, offset=2, now=1.0)

    pending.seal(lambda _: None)

    assert pending.channels.keys() == {(M1, IMPORT), (M2, EXPORT)}
    assert pending.channels[(M1, IMPORT)] == ENERGY_IMPORT
