"""The poller: treats the S3 bucket as an API and publishes new or changed objects to meter.raw.v1.

Run it with ``meterflow-poller`` (on a schedule) or ``meterflow-poller --once`` (one pass, for
backfills); settings from POLLER_* / KAFKA_BOOTSTRAP_SERVERS / S3_ENDPOINT_URL / AWS_*.
``POST /poll`` on the ops port starts a poll now. An object's checkpoint is written only after
every chunk of it was acknowledged, so a crash re-publishes the object from the start (the writer's
upsert absorbs the duplicates) and never skips one.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from aiohttp import web
from meterflow_contracts import Checkpoint, DeadLetter, DlqReason, RawBatch, SourcePosition
from meterflow_kit.backoff import backoff_delays
from meterflow_kit.lifecycle import install_stop_signals
from meterflow_kit.logs import configure_logging
from meterflow_kit.ops import OpsServer

from meterflow_poller import metrics
from meterflow_poller.config import Settings
from meterflow_poller.domain import Chunk, ObjectInfo, owns, plan
from meterflow_poller.kafka import Publisher, load_checkpoints
from meterflow_poller.s3 import MalformedObject, S3Error, S3Source

log = structlog.get_logger("meterflow.poller")

# Raw messages in flight per object: enough to keep the broker busy, few enough to bound memory.
_MAX_IN_FLIGHT = 4


@dataclass(slots=True)
class ObjectOutcome:
    records: int
    chunks: int
    complete: bool


class Poller:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.s3 = S3Source(settings)
        self.publisher = Publisher(settings.kafka_bootstrap)
        self.stop = asyncio.Event()
        self.trigger = asyncio.Event()
        self.healthy = False

    async def ready(self) -> tuple[bool, str]:
        return self.healthy, "last poll succeeded" if self.healthy else "no successful poll yet or S3 failing"

    async def poll_now(self, _: web.Request) -> web.Response:
        self.trigger.set()
        return web.json_response({"status": "poll requested"}, status=202)

    async def run(self, once: bool) -> bool:
        """Poll until stopped (or once); returns whether the last poll succeeded."""
        delays = backoff_delays(base=1.0, cap=self.settings.retry_max_seconds)
        while not self.stop.is_set():
            ok = await self.poll_guarded()
            if once:
                return ok
            if ok:
                delays = backoff_delays(base=1.0, cap=self.settings.retry_max_seconds)
                wait = self.settings.interval_s + random.uniform(0, self.settings.jitter_s)
            else:
                wait = next(delays)
            await self.wait_for_next_poll(wait)
        return self.healthy

    async def wait_for_next_poll(self, seconds: float) -> None:
        self.trigger.clear()
        trigger = asyncio.create_task(self.trigger.wait())
        stop = asyncio.create_task(self.stop.wait())
        _, pending = await asyncio.wait({trigger, stop}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()

    async def poll_guarded(self) -> bool:
        started = time.perf_counter()
        try:
            await self.poll_once()
        except S3Error as error:
            metrics.ERRORS.labels(kind="s3_config" if not error.retriable else "s3").inc()
            log.error("poll failed", error=str(error), retriable=error.retriable)
            self.set_health(False)
            return False
        except Exception as error:  # Kafka or unexpected: stay alive, report, retry with backoff
            metrics.ERRORS.labels(kind=type(error).__name__).inc()
            log.exception("poll failed", error=repr(error))
            self.set_health(False)
            return False
        metrics.POLL_SECONDS.observe(time.perf_counter() - started)
        if not self.stop.is_set():
            metrics.LAST_SUCCESS.set(time.time())
            self.set_health(True)
        return True

    def set_health(self, ok: bool) -> None:
        self.healthy = ok
        metrics.READY.set(1 if ok else 0)

    async def poll_once(self) -> None:
        s = self.settings
        listed = await asyncio.to_thread(self.s3.list_objects)
        mine = [o for o in listed if owns(o.key, s.instance_index, s.instance_count)]
        checkpoints = await load_checkpoints(s.kafka_bootstrap, s.checkpoint_topic, s.bucket)
        own_checkpoints = {k: v for k, v in checkpoints.items() if owns(k, s.instance_index, s.instance_count)}
        work = plan(mine, own_checkpoints)
        for outcome, items in (("listed", mine), ("new", work.new), ("changed", work.changed)):
            metrics.OBJECTS.labels(outcome=outcome).inc(len(items))
        metrics.OBJECTS.labels(outcome="skipped").inc(len(work.skipped))
        log.info(
            "poll planned",
            listed=len(mine),
            new=len(work.new),
            changed=len(work.changed),
            skipped=len(work.skipped),
            deleted=len(work.deleted),
        )
        for obj in work.to_publish:
            if self.stop.is_set():
                return
            await self.publish_object(obj)
        for key in work.deleted:
            await self.publisher.forget_checkpoint(s.checkpoint_topic, s.bucket, key)
            metrics.OBJECTS.labels(outcome="deleted").inc()

    async def publish_object(self, obj: ObjectInfo) -> None:
        s = self.settings
        started = time.perf_counter()
        try:
            outcome = await self.stream_object(obj)
        except MalformedObject as error:
            await self.dead_letter(obj, DlqReason.INVALID_JSON, str(error))
            outcome = ObjectOutcome(records=0, chunks=0, complete=True)
        if not outcome.complete:
            log.info("object abandoned on stop, no checkpoint written", key=obj.key)
            return
        if outcome.records == 0 and outcome.chunks == 0:
            await self.dead_letter(obj, DlqReason.INVALID_SHAPE, "object holds no records under 'data'")
        checkpoint = Checkpoint(
            bucket=s.bucket,
            key=obj.key,
            etag=obj.etag,
            size=obj.size,
            records=outcome.records,
            chunks=outcome.chunks,
            completed_at=datetime.now(UTC),
        )
        await self.publisher.send_checkpoint(s.checkpoint_topic, checkpoint)
        metrics.BYTES_PUBLISHED.inc(obj.size)
        log.info(
            "object published",
            key=obj.key,
            records=outcome.records,
            chunks=outcome.chunks,
            seconds=round(time.perf_counter() - started, 3),
        )

    async def stream_object(self, obj: ObjectInfo) -> ObjectOutcome:
        """Publish every chunk; the chunk before is sent only once the next one exists, so the final
        message can say it is the last. Returns once every chunk is acknowledged."""
        s = self.settings
        chunks = self.s3.iter_chunks(obj, s.chunk_max_records, s.chunk_max_bytes)
        in_flight: list[asyncio.Future[object]] = []
        held: Chunk | None = None
        records = sent = 0
        try:
            while True:
                chunk = await asyncio.to_thread(next_or_none, chunks)
                if self.stop.is_set():
                    return ObjectOutcome(records, sent, complete=False)
                if held is not None:
                    in_flight.append(await self.send_chunk(obj, held, last=chunk is None))
                    records += len(held.records)
                    sent += 1
                if chunk is None:
                    break
                held = chunk
                if len(in_flight) >= _MAX_IN_FLIGHT:
                    await in_flight.pop(0)
        finally:
            # Chunks already sent before a malformed tail are good data: let them be acknowledged.
            await asyncio.gather(*in_flight)
        return ObjectOutcome(records, sent, complete=True)

    async def send_chunk(self, obj: ObjectInfo, chunk: Chunk, last: bool) -> asyncio.Future[object]:
        position = source_position(self.settings.bucket, obj, chunk)
        batch = RawBatch(source=position, last_chunk=last, records=chunk.records, published_at=datetime.now(UTC))
        future = await self.publisher.send_raw(self.settings.raw_topic, batch)
        metrics.CHUNKS_PUBLISHED.inc()
        metrics.RECORDS_PUBLISHED.inc(len(chunk.records))
        return future

    async def dead_letter(self, obj: ObjectInfo, reason: DlqReason, message: str) -> None:
        dead = DeadLetter(
            reason=reason,
            message=f"s3://{self.settings.bucket}/{obj.key} (etag {obj.etag}): {message}",
            stage="poller",
            record={"bucket": self.settings.bucket, "key": obj.key, "etag": obj.etag, "size": obj.size},
            failed_at=datetime.now(UTC),
        )
        await self.publisher.send_dead_letter(self.settings.dlq_topic, obj.key, dead)
        metrics.DLQ_RECORDS.labels(reason=reason.value).inc()
        metrics.OBJECTS.labels(outcome="failed").inc()
        log.warning("object rejected", key=obj.key, reason=reason.value, detail=message)


def next_or_none(chunks: Iterator[Chunk]) -> Chunk | None:
    return next(chunks, None)


def source_position(bucket: str, obj: ObjectInfo, chunk: Chunk) -> SourcePosition:
    return SourcePosition(
        bucket=bucket,
        key=obj.key,
        etag=obj.etag,
        chunk_index=chunk.index,
        record_start=chunk.record_start,
        record_end=chunk.record_start + len(chunk.records),
    )


async def serve(settings: Settings, once: bool) -> bool:
    poller = Poller(settings)
    install_stop_signals(poller.stop)
    ops = OpsServer(settings.ops_host, settings.ops_port, poller.ready, [("POST", "/poll", poller.poll_now)])
    await ops.start()
    await poller.publisher.start()
    try:
        return await poller.run(once)
    finally:
        await poller.publisher.stop()
        await ops.stop()
        log.info("poller stopped")


def cli() -> None:
    parser = argparse.ArgumentParser(prog="meterflow-poller", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="poll once and exit (non-zero on failure)")
    args = parser.parse_args()
    settings = Settings()  # credentials come from the environment
    configure_logging("poller", settings.log_level)
    ok = asyncio.run(serve(settings, args.once))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    cli()
