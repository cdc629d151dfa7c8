"""Pure normalization: raw source records -> typed reading batches per meter and channel, plus dead letters.

No I/O here; the Faust agent in main.py feeds raw batches in and publishes what comes out. Every record is
judged on its own (docs/contracts.md, "Validation"): a bad record, or a bad channel of a record, becomes a
dead letter with its reason, and any other exception raised while reading one record is caught and
dead-lettered as ``unexpected_error``, so one hostile record never costs the rest of its batch.
"""

from __future__ import annotations

import itertools
import operator
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import isfinite
from typing import Any
from uuid import UUID

from meterflow_contracts import RAW, DeadLetter, DlqReason, RawBatch, ReadingBatch, ReadingColumns, SourcePosition
from meterflow_contracts.columnar import datetime_of, micros_of, to_batch
from meterflow_obis import ObisInfo, forbids_negative, is_energy

from meterflow_normalizer.bulk import channel_columns, clean_batch_columns
from meterflow_normalizer.errors import RecordRejected
from meterflow_normalizer.rules import (
    ENVELOPE_KEYS,
    MAX_AHEAD,
    SECOND_US,
    all_on_grid,
    channel_evidence,
    decode_channel,
    grid_interval_s,
    off_grid,
    parse_envelope,
    parse_value,
    unexpected,
)

# (muid text, OBIS hex, measurement): plain strings hash far faster than UUIDs or dataclasses,
# and this key is looked up once per reading.
_ChannelKey = tuple[str, str, str]
# One reading while a batch is built: value, quality, record index, source OBIS key. Readings are keyed by
# their interval start as integer microseconds since 1970 (UTC): hashed and sorted far faster than datetimes,
# and what the columnar v2 message carries.
_Reading = tuple[float, str, int, str]


@dataclass(slots=True)
class _Channel:
    muid: UUID
    measurement: str
    info: ObisInfo
    energy: bool
    forbids_negative: bool
    readings: dict[int, _Reading] = field(default_factory=dict)


@dataclass(slots=True)
class NormalizeResult:
    """The readings of a raw batch, one columnar message (meter.readings.v2) per meter and channel, and its
    dead letters. ``batches`` is the same readings in the v1 form, built on demand."""

    columns: list[ReadingColumns]
    dead_letters: list[DeadLetter]
    records_in: int

    @property
    def batches(self) -> list[ReadingBatch]:
        """The v1 form: costly (a datetime and a tuple per reading), so only for v1 subscribers and tests."""
        return [to_batch(columns) for columns in self.columns]

    @property
    def readings_out(self) -> int:
        return sum(len(c.ts_us) for c in self.columns)


def decode_raw(value: bytes) -> RawBatch:
    """The raw batch of a message; raises ValueError when it is none. A number beyond a double (``1e400``,
    a 400-digit integer, or a NaN/Infinity literal of another producer) costs only its reading (a
    ``non_finite_value`` dead letter), not the whole message: RAW's parser reads them."""
    return RAW.deserialize(value)


def normalize(raw: RawBatch, *, now: datetime | None = None) -> NormalizeResult:
    """Decode every record of a raw batch; bad records become dead letters, good ones still go through.

    A batch every record of which is clean and alike (bulk.py) is read column by column; any other
    batch record by record, each judged on its own. Both give the same readings for a clean batch."""
    now = now or datetime.now(UTC)
    columns = clean_batch_columns(raw, micros_of(now + MAX_AHEAD))
    if columns is not None:
        return NormalizeResult(columns=columns, dead_letters=[], records_in=len(raw.records))
    return normalize_by_record(raw, now=now)


def normalize_by_record(raw: RawBatch, *, now: datetime | None = None) -> NormalizeResult:
    """The record-by-record rules alone (what normalize falls back to)."""
    return _BatchNormalizer(raw, now or datetime.now(UTC)).run()


class _BatchNormalizer:
    """The state of one raw batch while its records are read: channels so far and dead letters."""

    def __init__(self, raw: RawBatch, now: datetime) -> None:
        self.raw = raw
        self.now = now
        self.latest = micros_of(now + MAX_AHEAD)
        self.channels: dict[_ChannelKey, _Channel] = {}
        # The same channels by the record's own spelling (muid text, OBIS key, measurement): what a record
        # shows, so the usual reading finds its channel without decoding the OBIS key again.
        self.spelled: dict[tuple[str, str, str], _Channel] = {}
        self.dead: list[DeadLetter] = []

    def run(self) -> NormalizeResult:
        for index, record in enumerate(self.raw.records):
            try:
                self.add_record(index, record)
            except RecordRejected as error:
                self.reject(record, error)
            except Exception as error:  # one record must never cost the others
                self.reject(record, unexpected(error))
        columns: list[ReadingColumns] = []
        for channel in self.channels.values():
            if channel.energy:
                self.drop_off_grid(channel)
            if channel.readings:
                columns.append(build_columns(channel, self.raw.source, self.raw.tenant))
        return NormalizeResult(columns=columns, dead_letters=self.dead, records_in=len(self.raw.records))

    def reject(self, record: Any, error: RecordRejected) -> None:
        self.dead.append(
            DeadLetter(
                reason=error.reason,
                message=error.message,
                stage="normalizer",
                record=record,
                source=self.raw.source,
                failed_at=self.now,
            )
        )

    def add_record(self, index: int, record: Any) -> None:
        muid, ts, measurement, quality = parse_envelope(record, self.latest)
        if len(record) <= len(ENVELOPE_KEYS):
            raise RecordRejected(DlqReason.NO_READINGS, "record has no OBIS value key")
        muid_text = record["tags"]["muid"]
        # Inlined lookups: this loop runs once per reading, the normalizer's hottest path.
        spelled = self.spelled
        for obis_key in record.keys():  # noqa: SIM118 (a record's own keys(): whatever it raises is its own)
            if obis_key in ENVELOPE_KEYS:
                continue
            try:
                value = record[obis_key]
                channel = spelled.get((muid_text, obis_key, measurement))
                if channel is None:
                    channel = self.channel_of(muid_text, muid, obis_key, measurement)
                # A finite double is the usual value: anything else takes the full rules.
                if type(value) is not float or not isfinite(value) or (value < 0 and channel.forbids_negative):
                    value = parse_value(obis_key, value, channel.forbids_negative)
                reading = (value, quality, index, obis_key)
                previous = channel.readings.get(ts)
                if previous is None:
                    channel.readings[ts] = reading
                else:
                    self.add_repeat(channel, ts, previous, reading)
            except RecordRejected as error:
                self.reject(channel_evidence(record, obis_key), error)
            except Exception as error:  # nor one channel the record's others
                self.reject(channel_evidence(record, obis_key), unexpected(error))

    def channel_of(self, muid_text: str, muid: UUID, obis_key: str, measurement: str) -> _Channel:
        """The channel of an OBIS key not seen in this spelling yet (raises for an invalid key)."""
        info = decode_channel(obis_key)
        channel = self.channels.get((muid_text, info.hex, measurement))
        if channel is None:
            channel = _Channel(muid, measurement, info, is_energy(info), forbids_negative(info))
            self.channels[(muid_text, info.hex, measurement)] = channel
        self.spelled[(muid_text, obis_key, measurement)] = channel
        return channel

    def add_repeat(self, channel: _Channel, ts: int, previous: _Reading, reading: _Reading) -> None:
        """A second reading of a channel at the same time: an exact repeat is harmless and kept once; another
        value means the later record of the object is the source's last word, so it wins and the earlier one
        goes to the DLQ as evidence."""
        if (previous[0], previous[1]) == (reading[0], reading[1]):
            return
        channel.readings[ts] = reading
        self.reject(
            channel_evidence(self.raw.records[previous[2]], previous[3]),
            RecordRejected(
                DlqReason.DUPLICATE_CONFLICT,
                f"timestamp {datetime_of(ts).isoformat()} appears again for meter {channel.muid} channel "
                f"{channel.info.obis} with another value in record {reading[2]} of the batch, which was kept",
            ),
        )

    def drop_off_grid(self, channel: _Channel) -> None:
        stamps = sorted(channel.readings)
        steps: Counter[int] = Counter(map(operator.sub, stamps[1:], stamps[:-1]))
        interval = grid_interval_s(steps)
        if interval is None or all_on_grid(stamps[0], steps, interval):
            return
        for ts in stamps:
            if off_grid(ts, interval):
                _, _, index, obis_key = channel.readings.pop(ts)
                self.reject(
                    channel_evidence(self.raw.records[index], obis_key),
                    RecordRejected(
                        DlqReason.OFF_GRID_TIMESTAMP,
                        f"timestamp {datetime_of(ts).isoformat()} is not on the {interval} s grid of channel "
                        f"{channel.info.obis} of meter {channel.muid}",
                    ),
                )


def build_columns(channel: _Channel, source: SourcePosition, tenant: str | None = None) -> ReadingColumns:
    stamps = sorted(channel.readings)
    readings = channel.readings
    ordered = [readings[ts] for ts in stamps]
    codes: dict[str, int] = {}
    quality_codes = [codes.setdefault(reading[1], len(codes)) for reading in ordered]
    start = source.record_start
    return channel_columns(
        channel.muid,
        channel.info,
        channel.measurement,
        min(map(operator.sub, stamps[1:], stamps[:-1])) // SECOND_US if len(stamps) > 1 else None,
        stamps,
        [reading[0] for reading in ordered],
        list(codes),
        quality_codes,
        [start + reading[2] for reading in ordered],
        source,
        tenant,
    )


def infer_interval_s(timestamps: list[datetime]) -> int | None:
    """The smallest step between consecutive readings: the capture period of a load profile."""
    steps = [int((b - a).total_seconds()) for a, b in itertools.pairwise(timestamps)]
    return min(steps) if steps else None
