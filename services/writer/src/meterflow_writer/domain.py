"""Pure logic of the writer: batching readings for one transaction, de-duplicating them, isolating the rows
the database rejects, what a write does to the channels table, and turning touched day buckets into refresh
windows. No I/O here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from itertools import pairwise
from uuid import UUID

from meterflow_contracts import DeadLetter, DlqReason, ReadingBatch, ReadingColumns
from meterflow_schema import ChannelKey, describe_obis

from meterflow_writer.columns import ChannelSpan, ColumnBlock, ColumnRows
from meterflow_writer.tenancy import Binding, bindings_of

Row = tuple[UUID, str, datetime, float, str, datetime | None, int | None]
"""One row of the readings table: (muid, obis, ts, value, quality, source_modified, source_record); the last
two are the row's source version (None: unknown, older than any version)."""

DAY = timedelta(days=1)
# What a missing version compares as: older than every real one.
_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What one or more upserts did: rows that were new, and existing rows whose value or quality changed.
    Rows sent but neither inserted nor changed were already stored exactly so (a replay)."""

    inserted: int = 0
    changed: int = 0
    # The source's tenant binding (tenancy.py): meters assigned now, and meters owned by another tenant.
    meters_assigned: int = 0
    meters_owned_elsewhere: int = 0

    def __add__(self, other: WriteOutcome) -> WriteOutcome:
        return WriteOutcome(
            self.inserted + other.inserted,
            self.changed + other.changed,
            self.meters_assigned + other.meters_assigned,
            self.meters_owned_elsewhere + other.meters_owned_elsewhere,
        )


@dataclass(slots=True)
class PendingBatch:
    """Readings buffered for one transaction, with the Kafka offsets they came from.

    ``generation`` is the consumer-group generation the records were fetched in: after a rebalance the
    batch is dropped unwritten, because the partitions may now belong to another writer, which re-reads
    them from the last committed offset (writing them here too could overwrite its newer values).
    """

    generation: int = 0
    rows: list[Row] = field(default_factory=list)
    # v2 messages stay columns (columns.py) until sealed; ``size`` counts their readings and the rows.
    blocks: list[ColumnBlock] = field(default_factory=list)
    size: int = 0
    messages: list[ReadingBatch | ReadingColumns] = field(default_factory=list)
    # topic-partition -> next offset to commit once the rows are durable
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    started_at: float | None = None
    # True while every series (muid, obis) comes from one message with strictly ascending timestamps:
    # then no key can occur twice and the de-duplication pass is skipped (the common case).
    _unique: bool = True
    _series: set[tuple[UUID, str]] = field(default_factory=set)
    # Set by seal() when the batch is handed to the loader: the rows to write, their COPY encoding, and
    # what the messages say about each channel (for the channels table).
    sealed: Sequence[Row] | None = None
    payload: bytes | None = None
    channels: dict[ChannelKey, ChannelInfo] = field(default_factory=dict)
    bindings: dict[UUID, Binding] = field(default_factory=dict)
    # Each channel's first and last ts and row count: what the loader compares with the batches in flight.
    spans: dict[ChannelKey, ChannelSpan] = field(default_factory=dict)

    def seal(self, payload: Callable[[list[Row]], bytes | None]) -> Sequence[Row]:
        """Fix the rows to write (unique keys) and their encoding, computed before the loader needs them.
        v2 blocks keep their own encoding while no key can occur twice; otherwise their rows are built."""
        if self.sealed is None:
            if self.blocks and not self._unique:
                self.rows.extend(row for block in self.blocks for row in block.rows())
                self.blocks = []
            if self.blocks:
                encoded = payload(self.rows)
                self.sealed = ColumnRows(self.rows, self.blocks, channel_spans(self.rows))
                self.payload = None if encoded is None else joined_payload(encoded, self.blocks)
            else:
                self.sealed = self.unique_rows()
                self.payload = payload(self.sealed)
            self.channels = channel_infos(self.messages)
            self.bindings = bindings_of(self.messages)
            self.spans = channel_spans(self.sealed)
        return self.sealed

    def add(self, batch: ReadingBatch, topic: str, partition: int, offset: int, now: float) -> None:
        if self.started_at is None:
            self.started_at = now
        self.messages.append(batch)
        self.rows.extend(rows_of(batch))
        self.size += len(batch.readings)
        self.offsets[(topic, partition)] = offset + 1
        self.note_series((batch.muid, batch.obis), strictly_ascending(batch))

    def add_block(self, block: ColumnBlock, topic: str, partition: int, offset: int, now: float) -> None:
        """A v2 message whose readings all passed the boundary check (columns.block_of)."""
        if self.started_at is None:
            self.started_at = now
        self.messages.append(block.message)
        self.blocks.append(block)
        self.size += len(block)
        self.offsets[(topic, partition)] = offset + 1
        self.note_series((block.message.muid, block.message.obis), block.ascending)

    def note_series(self, series: tuple[UUID, str], ascending: bool) -> None:
        if self._unique and (series in self._series or not ascending):
            self._unique = False
        self._series.add(series)

    def note_offset(self, topic: str, partition: int, offset: int, now: float) -> None:
        """A message that carried no rows (it went to the DLQ) still moves the offset on."""
        if self.started_at is None:
            self.started_at = now
        self.offsets[(topic, partition)] = offset + 1

    def fits(self, rows: int, max_rows: int) -> bool:
        """Whether ``rows`` more readings keep the batch within ``max_rows`` (an empty batch takes any
        message, so one message larger than the bound still goes through, alone)."""
        return not self.size or self.size + rows <= max_rows

    def is_due(self, now: float, max_rows: int, max_seconds: float) -> bool:
        if self.started_at is None:
            return False
        return self.size >= max_rows or now - self.started_at >= max_seconds

    def seconds_left(self, now: float, max_seconds: float) -> float:
        """How long the batch may still wait for more readings."""
        if self.started_at is None:
            return max_seconds
        return max(0.0, max_seconds - (now - self.started_at))

    def unique_rows(self) -> list[Row]:
        """The rows to write: one per (muid, obis, ts), the latest delivery winning."""
        return self.rows if self._unique else unique_rows(self.rows)

    def __len__(self) -> int:
        return self.size


def joined_payload(rows_payload: bytes, blocks: Iterable[ColumnBlock]) -> bytes:
    """One COPY stream of the rows' stream (pgcopy, with its header and trailer) and the blocks' rows."""
    return b"".join([rows_payload[:-2], *(block.payload for block in blocks), rows_payload[-2:]])


def rows_of(batch: ReadingBatch) -> list[Row]:
    muid, obis, modified = batch.muid, batch.obis, batch.source.last_modified
    indexes = batch.record_indexes
    if indexes is None:
        return [(muid, obis, ts, value, quality, modified, None) for ts, value, quality in batch.readings]
    return [
        (muid, obis, ts, value, quality, modified, index)
        for (ts, value, quality), index in zip(batch.readings, indexes, strict=True)
    ]


def version(row: Row) -> tuple[datetime, int]:
    """The row's source version, comparable: (object last-modified, record index), missing parts oldest."""
    return (row[5] or _OLDEST, -1 if row[6] is None else row[6])


def strictly_ascending(batch: ReadingBatch) -> bool:
    return all(a[0] < b[0] for a, b in pairwise(batch.readings))


def unique_rows(rows: list[Row]) -> list[Row]:
    """One row per (muid, obis, ts): an upsert may touch a row only once, and a replayed or corrected object
    can bring the same key twice into one transaction. The newest source version wins (as in the upsert);
    between equal versions, the latest delivery."""
    latest: dict[tuple[UUID, str, datetime], Row] = {}
    for row in rows:
        key = (row[0], row[1], row[2])
        kept = latest.get(key)
        if kept is None or version(row) >= version(kept):
            latest[key] = row
    return list(latest.values()) if len(latest) != len(rows) else rows


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """What the normalizer decoded about a channel, as its messages carry it."""

    quantity: str
    direction: str | None
    unit: str | None
    measurement: str
    interval_s: int | None


@dataclass(frozen=True, slots=True)
class ChannelWrite:
    """One row of the writer's channels upsert: the channel's metadata, the span of the rows written and
    how many of them were new (the amount added to channels.readings)."""

    muid: UUID
    obis: str
    quantity: str
    direction: str | None
    unit: str | None
    measurement: str
    interval_s: int | None
    first_ts: datetime
    last_ts: datetime
    inserted: int


def channel_infos(messages: Iterable[ReadingBatch | ReadingColumns]) -> dict[ChannelKey, ChannelInfo]:
    """Per channel, the metadata of its latest message, with the latest interval that is known (a message
    of one reading has none)."""
    out: dict[ChannelKey, ChannelInfo] = {}
    for message in messages:
        key = (message.muid, message.obis)
        interval_s = message.interval_s
        if interval_s is None and key in out:
            interval_s = out[key].interval_s
        out[key] = ChannelInfo(message.quantity, message.direction, message.unit, message.measurement, interval_s)
    return out


def channel_spans(rows: Iterable[Row]) -> dict[ChannelKey, ChannelSpan]:
    """Per channel of ``rows``: the first and last ts and the number of rows. Rows of one message come as a
    run sharing its muid and obis objects, so a run is summed before the dict is touched. Rows of v2 blocks
    know their spans without being built."""
    if isinstance(rows, ColumnRows):
        return rows.spans
    out: dict[ChannelKey, ChannelSpan] = {}
    muid: UUID | None = None
    obis = ""
    first = last = datetime.min
    count = 0
    for row in rows:
        if row[0] is not muid or row[1] is not obis:
            if muid is not None:
                _merge_span(out, (muid, obis), first, last, count)
            muid, obis, first, last, count = row[0], row[1], row[2], row[2], 1
            continue
        ts = row[2]
        if ts > last:
            last = ts
        elif ts < first:
            first = ts
        count += 1
    if muid is not None:
        _merge_span(out, (muid, obis), first, last, count)
    return out


def _merge_span(out: dict[ChannelKey, ChannelSpan], key: ChannelKey, first: datetime, last: datetime, n: int) -> None:
    known = out.get(key)
    out[key] = (first, last, n) if known is None else (min(known[0], first), max(known[1], last), known[2] + n)


def may_share_a_key(a: Mapping[ChannelKey, ChannelSpan], b: Mapping[ChannelKey, ChannelSpan]) -> bool:
    """Whether batches of these spans may hold the same (muid, obis, ts): a channel in both whose ts ranges
    meet. The loader writes such batches one after the other, in Kafka order, because between equal source
    versions the later delivery wins; batches that cannot share a key may be written at the same time."""
    fewer, more = (a, b) if len(a) <= len(b) else (b, a)
    for key, (first, last, _) in fewer.items():
        other = more.get(key)
        if other is not None and first <= other[1] and other[0] <= last:
            return True
    return False


def channel_writes(
    rows: Iterable[Row], infos: Mapping[ChannelKey, ChannelInfo], inserted: Mapping[ChannelKey, int] | None = None
) -> list[ChannelWrite]:
    """What a write of ``rows`` adds to the channels table, sorted by (muid, obis) so that concurrent writers
    lock channel rows in one order.

    ``inserted`` counts the rows that were new per channel (the upsert path's answer); None means all of them
    were (a COPY that succeeded). Channels that gained no row are left out: a replay or a correction changes
    neither the count nor the span, since the rows were there already. A channel missing from ``infos`` (a
    caller without messages) is described as the normalizer would: :func:`described_by_rows`.
    """
    rows = rows if isinstance(rows, Sequence) else list(rows)
    spans = channel_spans(rows)
    missing = {key for key in spans if key not in infos}
    infos = {**infos, **described_by_rows(rows, missing)} if missing else infos
    writes: list[ChannelWrite] = []
    for key, (first, last, count) in sorted(spans.items()):
        new = count if inserted is None else inserted.get(key, 0)
        if new <= 0:
            continue
        info = infos[key]
        writes.append(
            ChannelWrite(
                muid=key[0],
                obis=key[1],
                quantity=info.quantity,
                direction=info.direction,
                unit=info.unit,
                measurement=info.measurement,
                interval_s=info.interval_s,
                first_ts=first,
                last_ts=last,
                inserted=new,
            )
        )
    return writes


def described_by_rows(rows: Iterable[Row], keys: set[ChannelKey]) -> dict[ChannelKey, ChannelInfo]:
    """The channels ``keys`` described from their rows alone: the metadata decoded from the OBIS code
    (meterflow_schema.describe_obis) and the smallest step between the rows as the interval."""
    stamps: dict[ChannelKey, list[datetime]] = {key: [] for key in keys}
    for row in rows:
        found = stamps.get((row[0], row[1]))
        if found is not None:
            found.append(row[2])
    out: dict[ChannelKey, ChannelInfo] = {}
    for key, times in stamps.items():
        meta = describe_obis(key[1])
        times.sort()
        steps = [int((b - a).total_seconds()) for a, b in pairwise(times) if b > a]
        out[key] = ChannelInfo(meta.quantity, meta.direction, meta.unit, meta.measurement, min(steps, default=None))
    return out


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row the database refused for what it contains, and why."""

    row: Row
    error: str


async def write_isolating_rejects(
    rows: Sequence[Row],
    write: Callable[[Sequence[Row]], Awaitable[WriteOutcome]],
    is_rejection: Callable[[BaseException], bool],
) -> tuple[WriteOutcome, list[Rejection]]:
    """Write ``rows`` with ``write`` (one transaction per call). When the database rejects the data, halve
    the rows until every rejected row is alone, and write the rest: k bad rows among n cost about
    2·k·log2(n) extra transactions. Errors that are not rejections (connection lost, ...) propagate; the
    caller retries the whole batch, which the idempotent upsert makes safe."""
    if not rows:
        return WriteOutcome(), []
    try:
        return await write(rows), []
    except Exception as error:
        if not is_rejection(error):
            raise
        if len(rows) == 1:
            return WriteOutcome(), [Rejection(rows[0], str(error))]
    middle = len(rows) // 2
    first, first_rejected = await write_isolating_rejects(rows[:middle], write, is_rejection)
    second, second_rejected = await write_isolating_rejects(rows[middle:], write, is_rejection)
    return first + second, first_rejected + second_rejected


def rejected_by_message(
    messages: Sequence[ReadingBatch], rejections: Iterable[Rejection]
) -> list[tuple[ReadingBatch, list[Rejection]]]:
    """Group rejected rows by the message that delivered them (the latest one of the row's source version
    carrying that key, as the de-duplication keeps it), in message order. A slow scan: rejections are rare."""
    found: dict[int, list[Rejection]] = {}
    for rejection in rejections:
        muid, obis, ts, modified = rejection.row[0], rejection.row[1], rejection.row[2], rejection.row[5]
        for index in range(len(messages) - 1, -1, -1):
            message = messages[index]
            if (
                message.muid == muid
                and message.obis == obis
                and message.source.last_modified == modified
                and any(r[0] == ts for r in message.readings)
            ):
                found.setdefault(index, []).append(rejection)
                break
    return [(messages[index], found[index]) for index in sorted(found)]


def only_readings(message: ReadingBatch, rows: Iterable[Row]) -> ReadingBatch:
    """The message cut down to the readings of ``rows`` (and their record indexes): what goes to the DLQ
    when only some were refused."""
    keep = {row[2] for row in rows}
    indexes = [i for i, reading in enumerate(message.readings) if reading[0] in keep]
    update: dict[str, object] = {"readings": [message.readings[i] for i in indexes]}
    if message.record_indexes is not None:
        update["record_indexes"] = [message.record_indexes[i] for i in indexes]
    return message.model_copy(update=update)


def database_rejection(message: ReadingBatch, rejected: Sequence[Rejection], now: datetime) -> DeadLetter:
    """The dead letter of the readings of ``message`` the database refused (``db_rejected``)."""
    detail = f"{len(rejected)} of {len(message.readings)} readings rejected: {rejected[0].error}"
    return DeadLetter(
        reason=DlqReason.DB_REJECTED,
        message=detail[:2000],
        stage="writer",
        record=only_readings(message, (r.row for r in rejected)).model_dump(mode="json"),
        source=message.source,
        failed_at=now,
    )


def touched_days(rows: Iterable[Row]) -> list[tuple[UUID, str, datetime]]:
    """The distinct (muid, obis, UTC day) of ``rows``: the day buckets a write touches. Rows of one series
    come in ascending runs, so the day is only recomputed when a run leaves it."""
    seen: set[tuple[UUID, str, datetime]] = set()
    muid: UUID | None = None
    obis = ""
    day = end = datetime.min.replace(tzinfo=UTC)
    for row in rows:
        row_muid, row_obis, ts = row[0], row[1], row[2]
        if row_muid != muid or row_obis != obis or not day <= ts < end:
            muid, obis = row_muid, row_obis
            day = datetime.combine(ts.astimezone(UTC).date(), time(), tzinfo=UTC)
            end = day + DAY
            seen.add((muid, obis, day))
    return list(seen)


def day_windows(days: Iterable[datetime]) -> list[tuple[datetime, datetime]]:
    """Merge day buckets (UTC midnights) into [start, end) windows of consecutive days, oldest first:
    one aggregate refresh per window instead of one per day."""
    windows: list[tuple[datetime, datetime]] = []
    for day in sorted(set(days)):
        if windows and windows[-1][1] == day:
            windows[-1] = (windows[-1][0], day + DAY)
        else:
            windows.append((day, day + DAY))
    return windows
