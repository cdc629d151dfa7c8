"""The writer: consumes meter.readings.v2 (or v1) and loads it into the readings table, idempotently.

Run it with ``meterflow-writer`` (settings from WRITER_* / KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, see
config.py and docs/writer.md); ``meterflow-writer migrate`` applies the schema migrations and exits.
Offsets are committed only after the rows are durable: at-least-once delivery into an idempotent
upsert, so a crash or a replay never loses nor duplicates a reading. Scale out with more instances
in the same consumer group.

Inside, two tasks overlap: the batcher fetches and validates messages into a batch bounded by rows and
by time, and the loader writes earlier batches (COPY + upsert), up to WRITER_WRITE_CONCURRENCY
transactions at once, and commits their offsets in order. A queue of one batch between them is the
back-pressure: while PostgreSQL is down the loader retries and the batcher stops fetching. On TimescaleDB
a third task refreshes the continuous aggregates over what writes touched (refreshing.py).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from aiokafka import ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from meterflow_contracts import DLQ, READINGS, READINGS_V2, DeadLetter, ReadingBatch, ReadingColumns
from meterflow_contracts.columnar import to_batch
from meterflow_kit.backoff import backoff_delays
from meterflow_kit.dead_letters import DeadLetterProducer, invalid_message
from meterflow_kit.lifecycle import first_of, freeze_startup_objects, install_stop_signals, sleep_or_stop
from meterflow_kit.logs import configure_logging
from meterflow_kit.ops import OpsServer
from meterflow_kit.settings import env_or_file
from meterflow_kit.topic_check import check_topics
from meterflow_kit.tracing import trace_id_of, trace_ids_of
from meterflow_schema import migrate

from meterflow_writer import freshness, metrics
from meterflow_writer.columns import ColumnBlock, block_of, decode_message
from meterflow_writer.config import Settings
from meterflow_writer.db import Database
from meterflow_writer.domain import (
    PendingBatch,
    Rejection,
    Row,
    WriteOutcome,
    database_rejection,
    may_share_a_key,
    rejected_by_message,
    write_isolating_rejects,
)
from meterflow_writer.errors import DatabaseError
from meterflow_writer.kafka import readings_consumer
from meterflow_writer.observing import observe_forever
from meterflow_writer.pgcopy import encode_rows
from meterflow_writer.refreshing import refresh_forever
from meterflow_writer.tenancy import bindings_for
from meterflow_writer.validation import screen

log = structlog.get_logger("meterflow.writer")

# Messages per poll; a batch takes what fits and the rest waits for the next one.
FETCH_MAX_MESSAGES = 64
# A poll returns at least this often, so a stop request is noticed while a batch waits to fill.
FETCH_MAX_WAIT_SECONDS = 0.5


@dataclass(eq=False, slots=True)
class InFlight:
    """A batch the loader took: ``ended`` is set once its transaction is over (committed or given up)."""

    batch: PendingBatch
    ended: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(frozen=True, slots=True)
class Written:
    """A durable batch: rows sent, what they did, rows rejected into the DLQ, when its write started."""

    rows: int
    outcome: WriteOutcome
    rejected: int
    started: float


class Writer:
    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database(
            str(settings.database_url),
            command_timeout=settings.db_timeout_s,
            refresh=settings.refresh_aggregates,
            optimistic=settings.optimistic_copy,
            pool_size=settings.write_concurrency + 2,
        )
        self.consumer = readings_consumer(settings.kafka, settings.readings_topic, settings.group_id)
        self.dlq = DeadLetterProducer(settings.kafka, settings.dlq_topic)
        self.stop = asyncio.Event()
        # Bumped on every rebalance: a batch of an older generation is dropped unwritten.
        self.generation = 0
        # Set when the current generation's partitions are revoked (a new Event per generation).
        self.revoked = asyncio.Event()
        # The batches the loader has taken, in queue order, until their offsets are committed or given up.
        self.in_flight: list[InFlight] = []
        self.idle = asyncio.Event()
        self.idle.set()
        self.giving_up = False
        self.queue: asyncio.Queue[PendingBatch | None] = asyncio.Queue(maxsize=1)
        self.refresh_wanted = asyncio.Event()
        self.loader_done = asyncio.Event()
        self.running = False
        self.failing = False  # the last database attempt failed and is being retried
        self.rows_in_memory = 0

    async def ready(self) -> tuple[bool, str]:
        if not self.running:
            ok, detail = False, "starting: database or Kafka not connected yet"
        elif self.failing:
            ok, detail = False, "database writes failing, retrying"
        elif not await self.db.ping():
            ok, detail = False, "database unreachable"
        else:
            ok, detail = True, "consuming; database reachable"
        metrics.READY.set(1 if ok else 0)
        return ok, detail

    async def run(self) -> None:
        if not await self.connect_database():
            return
        readings = READINGS if self.settings.readings_topic.startswith(READINGS.name) else READINGS_V2
        await check_topics(self.settings.kafka, {self.settings.readings_topic: readings, self.settings.dlq_topic: DLQ})
        await self.dlq.start()
        try:
            await self.consumer.start(on_revoked=self.on_revoked, on_assigned=self.on_assigned)
            self.running = True
            freeze_startup_objects()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.batch_loop())
                tasks.create_task(self.load_loop())
                tasks.create_task(observe_forever(self.settings, self.stop))
                if self.db.aggregates:
                    tasks.create_task(
                        refresh_forever(self.db, self.settings, self.stop, self.refresh_wanted, self.loader_done)
                    )
        finally:
            self.running = False
            metrics.READY.set(0)
            await self.consumer.stop()
            await self.dlq.stop()
            await self.db.close()

    async def connect_database(self) -> bool:
        delays = backoff_delays(base=0.2, cap=self.settings.retry_max_s)
        while not self.stop.is_set():
            try:
                await self.db.connect()
                return True
            except DatabaseError as error:
                metrics.RETRIES.inc()
                delay = next(delays)
                log.warning("database not reachable at start, retrying", error=str(error), retry_in_s=round(delay, 2))
                await sleep_or_stop(self.stop, delay)
        return False

    # -- rebalance ----------------------------------------------------------------------------------------

    async def on_revoked(self, partitions: set[TopicPartition]) -> None:
        """Partitions are about to move: drop what was read but not written, and let the writes in flight
        finish and commit before aiokafka rejoins the group. Positions restart from the committed offsets
        after the rebalance, so nothing dropped here is lost."""
        self.generation += 1
        self.revoked.set()
        self.revoked = asyncio.Event()
        if partitions:
            metrics.REBALANCES.inc()
            log.info("partitions revoked", partitions=sorted(p for _, p in partitions))
        await self.idle.wait()

    async def on_assigned(self, partitions: set[TopicPartition]) -> None:
        metrics.ASSIGNED_PARTITIONS.set(len(partitions))
        log.info("partitions assigned", partitions=sorted(tp.partition for tp in partitions))

    # -- batcher ------------------------------------------------------------------------------------------

    async def batch_loop(self) -> None:
        s = self.settings
        pending = PendingBatch(generation=self.generation)
        next_lag_export = 0.0
        while not self.stop.is_set():
            wait = min(FETCH_MAX_WAIT_SECONDS, pending.seconds_left(time.monotonic(), s.batch_max_s))
            records = await self.consumer.fetch(wait, max_records=FETCH_MAX_MESSAGES)
            # No await since getmany returned: these records belong to the current generation.
            generation = self.generation
            if pending.generation != generation:
                self.forget(pending)
                pending = PendingBatch(generation=generation)
            for record in records:
                if self.generation != generation:
                    break  # revoked while we handed off or dead-lettered: re-read after the rebalance
                batch = await self.decode(record)
                if batch is None:
                    pending.note_offset(record.topic, record.partition, record.offset, time.monotonic())
                    continue
                size = len(batch) if isinstance(batch, ColumnBlock) else len(batch.readings)
                if not pending.fits(size, s.batch_max_rows):
                    await self.hand_off(pending)
                    pending = PendingBatch(generation=generation)
                if isinstance(batch, ColumnBlock):
                    pending.add_block(batch, record.topic, record.partition, record.offset, time.monotonic())
                else:
                    pending.add(batch, record.topic, record.partition, record.offset, time.monotonic())
                self.count_in_memory(size)
                # Validation is CPU work on this thread: let the loader's database round-trips progress.
                await asyncio.sleep(0)
            if pending.is_due(time.monotonic(), s.batch_max_rows, s.batch_max_s):
                await self.hand_off(pending)
                pending = PendingBatch(generation=self.generation)
            if time.monotonic() >= next_lag_export:
                await self.consumer.export_lag()
                next_lag_export = time.monotonic() + 1.0
        # Stop requested: the batch in hand is finished (written and committed) by the loader.
        if pending.started_at is not None and pending.generation == self.generation:
            await self.hand_off(pending)
        else:
            self.forget(pending)
        await self.queue.put(None)

    async def decode(self, record: ConsumerRecord[bytes, bytes]) -> ReadingBatch | ColumnBlock | None:
        """The message (v1 or v2, by the version it carries) cut down to the readings that pass the boundary
        check (validation.py), or None when none is left; what fails goes to the DLQ. A v2 message whose
        readings all pass stays columns (a ColumnBlock); one with a bad reading is checked reading by reading
        in its v1 form, which also writes its dead letters."""
        try:
            message = decode_message(record.value or b"")
        except ValueError as error:
            spec = READINGS_V2 if (record.value or b"").startswith(b'{"schema_version":2') else READINGS
            dead = invalid_message("writer", spec, record.value, str(error))
            await self.dead_letter(dead, key=record.key or b"", retry=True)
            return None
        now = datetime.now(UTC)
        if isinstance(message, ReadingColumns):
            block = block_of(message, now)
            if block is not None:
                return block
            message = to_batch(message)
        batch: ReadingBatch = message
        screened = screen(batch, now)
        for dead in screened.dead:
            await self.dead_letter(dead, retry=True)
        if screened.dead:
            metrics.DLQ_ROWS.inc(screened.rejected_readings)
        return screened.kept

    async def hand_off(self, pending: PendingBatch) -> None:
        # De-duplicate and encode here, while the loader still writes the previous batch.
        pending.seal(_encode_or_none)
        await self.queue.put(pending)

    def count_in_memory(self, rows: int) -> None:
        self.rows_in_memory += rows
        metrics.PENDING_ROWS.set(self.rows_in_memory)

    def forget(self, batch: PendingBatch) -> None:
        """The batch leaves memory (written, or dropped to be re-read)."""
        self.count_in_memory(-len(batch))

    # -- loader -------------------------------------------------------------------------------------------

    async def load_loop(self) -> None:
        """Write the queued batches, up to ``write_concurrency`` transactions at once, each on a connection of
        its own: PostgreSQL copies one batch while it commits another, and uses both cores once the other
        stages idle (bench/README.md, "two transactions in flight"). Offsets are committed in queue
        order (a committed offset covers every message before it), so a batch whose transaction ends first
        waits for the ones before it to commit theirs."""
        slots = asyncio.Semaphore(self.settings.write_concurrency)
        previous: asyncio.Task[bool] | None = None
        try:
            async with asyncio.TaskGroup() as loads:
                while True:
                    await slots.acquire()  # before taking a batch: the queue stays the batcher's back-pressure
                    if (batch := await self.queue.get()) is None:
                        break
                    flight = InFlight(batch)
                    self.in_flight.append(flight)
                    metrics.WRITES_IN_FLIGHT.set(len(self.in_flight))
                    self.idle.clear()
                    previous = loads.create_task(self.load(flight, previous, slots))
        finally:
            self.loader_done.set()

    async def load(self, flight: InFlight, previous: asyncio.Task[bool] | None, slots: asyncio.Semaphore) -> bool:
        """Write one batch, then commit its offsets if every batch before it committed theirs; True if it did.
        A batch it did not commit is read again after a restart or rebalance: an idempotent replay."""
        try:
            written = await self.write(flight)
            flight.ended.set()
            in_order = previous is None or await previous
            if written is None or not in_order:
                return False
            await self.commit(flight.batch, written)
            return True
        finally:
            flight.ended.set()
            self.in_flight.remove(flight)
            metrics.WRITES_IN_FLIGHT.set(len(self.in_flight))
            if not self.in_flight:
                self.idle.set()
            slots.release()
            self.forget(flight.batch)

    def drop(self, batch: PendingBatch) -> None:
        metrics.BATCHES_DROPPED.inc()
        log.info("batch dropped after a rebalance", rows=len(batch), generation=batch.generation)

    async def write(self, flight: InFlight) -> Written | None:
        """Write the batch (retrying while the database is unavailable) once every batch in flight before it
        that may hold one of its keys has ended: between equal source versions the later delivery wins. None
        when the batch was abandoned unwritten: a stop during an outage, or its partitions revoked."""
        batch = flight.batch
        rows = batch.seal(_encode_or_none)
        sharing = [
            earlier.ended
            for earlier in self.in_flight[: self.in_flight.index(flight)]
            if may_share_a_key(earlier.batch.spans, batch.spans)
        ]
        if sharing:
            metrics.ORDERED_WRITES.inc()
            for ended in sharing:
                await ended.wait()
        if self.giving_up:
            return None  # stopping while the database is down: nothing more is written
        if batch.generation != self.generation:
            self.drop(batch)
            return None
        revoked = self.revoked
        started = time.perf_counter()

        async def write(part: Sequence[Row]) -> WriteOutcome:
            # The whole batch goes with the encoding made by the batcher; halves are encoded on demand.
            whole = part is rows
            bindings = batch.bindings if whole else bindings_for(part, batch.bindings)
            return await self.db.write(part, batch.payload if whole else None, batch.channels, bindings)

        delays = backoff_delays(base=0.2, cap=self.settings.retry_max_s)
        while True:
            try:
                outcome, rejections = await write_isolating_rejects(rows, write, self.db.is_rejection)
                if rejections:
                    await self.send_rejections(batch.messages, rejections)
                break
            except (DatabaseError, KafkaError) as error:
                self.failing = True
                metrics.RETRIES.inc()
                delay = next(delays)
                log.warning("write failed, retrying", error=str(error), retry_in_s=round(delay, 2), rows=len(rows))
                await self.consumer.export_lag()  # the lag grows while we wait: show it
                if not self.stop.is_set():
                    await first_of(self.stop.wait(), revoked.wait(), within_s=delay)
                if self.stop.is_set():
                    log.warning("stopping while the database is unavailable: batch abandoned, not committed")
                    self.giving_up = True
                    return None
                if batch.generation != self.generation:
                    self.drop(batch)
                    return None
        self.failing = False
        return Written(len(rows), outcome, len(rejections), started)

    async def commit(self, batch: PendingBatch, written: Written) -> None:
        committed = await self.consumer.commit(batch.offsets)
        elapsed = time.perf_counter() - written.started
        self.observe(written.rows, written.outcome, written.rejected)
        freshness.observe_committed(batch.messages, time.time())
        if written.outcome.inserted or written.outcome.changed:
            self.refresh_wanted.set()
        log.info(
            "batch written",
            rows=written.rows,
            inserted=written.outcome.inserted,
            changed=written.outcome.changed,
            rejected=written.rejected,
            seconds=round(elapsed, 3),
            offsets_committed=committed,
            trace_ids=trace_ids_of(message.source for message in batch.messages),
        )

    async def send_rejections(self, messages: list[ReadingBatch | ReadingColumns], rejections: list[Rejection]) -> None:
        batches = [m if isinstance(m, ReadingBatch) else to_batch(m) for m in messages]
        grouped = rejected_by_message(batches, rejections)
        if sum(len(rejected) for _, rejected in grouped) != len(rejections):
            log.error("rejected rows not traced to their message", rejected=len(rejections))
        for message, rejected in grouped:
            await self.dead_letter(database_rejection(message, rejected, datetime.now(UTC)))
            metrics.DLQ_ROWS.inc(len(rejected))

    async def dead_letter(self, dead: DeadLetter, key: bytes | None = None, *, retry: bool = False) -> None:
        """Send to the DLQ (``key``: the DLQ's own key choice unless given); with ``retry`` keep trying
        through a Kafka outage (until a stop)."""
        delays = backoff_delays(base=0.2, cap=self.settings.retry_max_s)
        while True:
            try:
                await self.dlq.send(dead, key)
                break
            except KafkaError as error:
                if not retry or self.stop.is_set():
                    raise
                metrics.RETRIES.inc()
                log.warning("dead letter not sent, retrying", error=repr(error))
                await sleep_or_stop(self.stop, next(delays))
        metrics.DLQ_RECORDS.labels(reason=dead.reason.value).inc()
        shown_key = (key if key is not None else DLQ.encode_key(dead)).decode("utf-8", "replace")
        trace = trace_id_of(dead.source)
        log.warning("dead letter", reason=dead.reason.value, key=shown_key, detail=dead.message[:200], trace_id=trace)

    @staticmethod
    def observe(rows: int, outcome: WriteOutcome, rejected: int) -> None:
        metrics.ROWS_WRITTEN.inc(rows - rejected)
        metrics.ROWS_INSERTED.inc(outcome.inserted)
        metrics.ROWS_CHANGED.inc(outcome.changed)
        metrics.METERS_ASSIGNED.inc(outcome.meters_assigned)
        metrics.METERS_OWNED_ELSEWHERE.inc(outcome.meters_owned_elsewhere)
        metrics.BATCH_ROWS.observe(rows)
        metrics.LAST_WRITE.set(time.time())


def _encode_or_none(rows: list[Row]) -> bytes | None:
    """The rows' COPY stream, or None when a row cannot be encoded: the loader then isolates it."""
    try:
        return encode_rows(rows)
    except ValueError:
        return None


async def serve(settings: Settings) -> None:
    writer = Writer(settings)
    install_stop_signals(writer.stop)
    ops = OpsServer(settings.ops_host, settings.ops_port, writer.ready)
    await ops.start()
    try:
        await writer.run()
    finally:
        await ops.stop()
    log.info("writer stopped")


def cli() -> None:
    parser = argparse.ArgumentParser(prog="meterflow-writer", description=__doc__.splitlines()[0])
    parser.add_argument("command", nargs="?", choices=["run", "migrate"], default="run")
    args = parser.parse_args()
    settings = Settings()  # database_url comes from the environment
    configure_logging("writer", settings.log_level)
    if args.command == "migrate":
        # Migrations run as the owner, DATABASE_URL: WRITER_DATABASE_URL is the writer's login, without DDL.
        asyncio.run(migrate(env_or_file("DATABASE_URL") or str(settings.database_url)))
        return
    asyncio.run(serve(settings))


if __name__ == "__main__":
    cli()
