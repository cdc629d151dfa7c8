"""The writer: consumes meter.readings.v1 and loads it into the readings table, idempotently.

Run it with ``meterflow-writer`` (settings from WRITER_* / KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL);
``meterflow-writer migrate`` applies the schema migrations and exits.
Offsets are committed only after the rows are durable: at-least-once delivery into an idempotent
upsert, so a crash or a replay never loses nor duplicates a reading. Scale out with more instances
in the same consumer group.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import structlog
from aiokafka import ConsumerRecord
from meterflow_contracts import DeadLetter, DlqReason, ReadingBatch
from meterflow_kit.backoff import backoff_delays
from meterflow_kit.lifecycle import install_stop_signals, sleep_or_stop
from meterflow_kit.logs import configure_logging
from meterflow_kit.ops import OpsServer
from pydantic import ValidationError

from meterflow_writer import metrics
from meterflow_writer.config import Settings
from meterflow_writer.db import Database, DatabaseError, WriteOutcome
from meterflow_writer.domain import PendingBatch, rows_of, unique_rows
from meterflow_writer.kafka import DeadLetterProducer, ReadingsConsumer

log = structlog.get_logger("meterflow.writer")


class Writer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(str(settings.database_url))
        self.consumer = ReadingsConsumer(settings.kafka_bootstrap, settings.readings_topic, settings.group_id)
        self.dlq = DeadLetterProducer(settings.kafka_bootstrap, settings.dlq_topic)
        self.stop = asyncio.Event()
        self.db_ok = False

    async def ready(self) -> tuple[bool, str]:
        ok = self.db_ok and await self.db.ping()
        metrics.READY.set(1 if ok else 0)
        return ok, "database reachable" if ok else "database unreachable or not yet connected"

    async def run(self) -> None:
        await self.consumer.start()
        await self.dlq.start()
        try:
            await self.consume_until_stopped()
        finally:
            await self.consumer.stop()
            await self.dlq.stop()
            await self.db.close()

    async def consume_until_stopped(self) -> None:
        pending = PendingBatch()
        s = self.settings
        while not self.stop.is_set():
            now = time.monotonic()
            wait = (
                s.batch_max_seconds
                if pending.started_at is None
                else max(0.0, s.batch_max_seconds - (now - pending.started_at))
            )
            records = await self.consumer.fetch(wait, max_records=max(1, s.batch_max_rows // 500))
            for record in records:
                await self.accept(pending, record)
            if pending.is_due(time.monotonic(), s.batch_max_rows, s.batch_max_seconds):
                if not await self.flush(pending):
                    return  # stop requested while the database was down: nothing committed
                pending = PendingBatch()
                await self.consumer.export_lag()
        if pending.started_at is not None:
            # SIGTERM: finish the batch in hand if the database takes it, else abandon it uncommitted.
            await self.flush(pending)

    async def accept(self, pending: PendingBatch, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            batch = ReadingBatch.model_validate_json(record.value or b"")
        except ValidationError as error:
            await self.dead_letter(
                key=(record.key or b"").decode("utf-8", "replace"),
                reason=DlqReason.INVALID_MESSAGE,
                message=f"message is not a meter.readings.v1 batch: {str(error)[:2000]}",
                record=(record.value or b"").decode("utf-8", "replace")[:10_000],
            )
            pending.note_offset(record.topic, record.partition, record.offset, time.monotonic())
            return
        pending.add(batch, record.topic, record.partition, record.offset, time.monotonic())

    async def flush(self, pending: PendingBatch) -> bool:
        """Write the pending rows (retrying while the database is unavailable), then commit offsets.
        Returns False when a stop was requested before the rows were durable."""
        started = time.perf_counter()
        delays = backoff_delays(base=0.2, cap=self.settings.retry_max_seconds)
        while True:
            try:
                outcome = await self.write_isolating_poison(pending.messages)
                break
            except DatabaseError as error:
                self.db_ok = False
                metrics.RETRIES.inc()
                delay = next(delays)
                log.warning("write failed, retrying", error=str(error), retry_in_s=round(delay, 2))
                if await sleep_or_stop(self.stop, delay):
                    return False
        self.db_ok = True
        committed = await self.consumer.commit(pending.offsets)
        elapsed = time.perf_counter() - started
        self.observe(len(pending), outcome, elapsed)
        log.info(
            "batch written",
            rows=len(pending),
            inserted=outcome.inserted,
            changed=outcome.changed,
            seconds=round(elapsed, 3),
            offsets_committed=committed,
        )
        return True

    async def write_isolating_poison(self, messages: list[ReadingBatch]) -> WriteOutcome:
        """Write all messages; when the database rejects the data, halve the batch until the offending
        messages are found, send them to the DLQ and write the rest. Retriable errors propagate."""
        if not messages:
            return WriteOutcome(0, 0)
        rows = unique_rows([row for message in messages for row in rows_of(message)])
        try:
            return await self.db.write(rows)
        except DatabaseError as error:
            if error.retriable:
                raise
            if len(messages) == 1:
                await self.reject(messages[0], str(error))
                return WriteOutcome(0, 0)
        middle = len(messages) // 2
        first = await self.write_isolating_poison(messages[:middle])
        second = await self.write_isolating_poison(messages[middle:])
        return WriteOutcome(first.inserted + second.inserted, first.changed + second.changed)

    async def reject(self, message: ReadingBatch, error: str) -> None:
        metrics.DLQ_ROWS.inc(len(message.readings))
        await self.dead_letter(
            key=message.source.key,
            reason=DlqReason.DB_REJECTED,
            message=error[:2000],
            record=message.model_dump(mode="json"),
        )

    async def dead_letter(self, key: str, reason: DlqReason, message: str, record: object) -> None:
        dead = DeadLetter(reason=reason, message=message, stage="writer", record=record, failed_at=datetime.now(UTC))
        await self.dlq.send(key, dead)
        log.warning("dead letter", reason=reason.value, detail=message[:200])

    @staticmethod
    def observe(rows: int, outcome: WriteOutcome, seconds: float) -> None:
        metrics.ROWS_WRITTEN.inc(rows)
        metrics.ROWS_INSERTED.inc(outcome.inserted)
        metrics.ROWS_CHANGED.inc(outcome.changed)
        metrics.BATCH_ROWS.observe(rows)
        metrics.COPY_SECONDS.observe(seconds)
        metrics.LAST_WRITE.set(time.time())


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
        from meterflow_writer.migrations import migrate

        asyncio.run(migrate(str(settings.database_url)))
        return
    asyncio.run(serve(settings))


if __name__ == "__main__":
    cli()
