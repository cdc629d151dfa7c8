"""Publishing one object: its chunks to meter.raw.v1 (a few in flight), then its checkpoint, or for a
malformed object the good chunks, a dead letter and the checkpoint. The poller's schedule (main.py)
decides which objects; this module moves one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from meterflow_contracts import RawBatch

from meterflow_poller import metrics
from meterflow_poller.config import Settings
from meterflow_poller.domain import (
    Chunk,
    ObjectInfo,
    Outcome,
    completed_checkpoint,
    rejected_object,
    source_position,
)
from meterflow_poller.errors import MalformedObject, ObjectGone, ObjectUnreadable
from meterflow_poller.kafka import Publisher
from meterflow_poller.s3 import S3Source

log = structlog.get_logger("meterflow.poller")

# Raw messages in flight per object: enough to keep the broker busy, few enough to bound memory.
_MAX_IN_FLIGHT = 4

# Raises Interrupted unless this instance may still publish work begun in the given leadership term.
MayGoOn = Callable[[int], Awaitable[None]]


class Interrupted(Exception):
    """Stop was requested or leadership was lost: abandon the poll without a partial checkpoint."""


@dataclass(slots=True)
class Streamed:
    records: int
    chunks: int
    fault: MalformedObject | None = None


class ObjectPublisher:
    def __init__(self, settings: Settings, s3: S3Source, publisher: Publisher, may_go_on: MayGoOn) -> None:
        self.settings = settings
        self.s3 = s3
        self.publisher = publisher
        self.may_go_on = may_go_on
        # The leader generation of the poll in progress (fencing.py), set by the poller before each poll.
        self.generation: int | None = None

    async def publish(self, obj: ObjectInfo, outcome: Outcome, term: int) -> str:
        """Publish one object and checkpoint it; returns published, failed or vanished."""
        s = self.settings
        started = time.perf_counter()
        try:
            streamed = await self.stream(obj, term)
        except ObjectGone as error:
            # Deleted or overwritten since the listing: the next poll sees its new state.
            metrics.OBJECTS.labels(outcome="vanished").inc()
            log.info("object changed during the poll; left to the next poll", key=obj.key, detail=str(error))
            return "vanished"
        except ObjectUnreadable as error:
            # No checkpoint: once the permission is fixed, the next poll publishes it (from its start, if
            # the refusal came mid-object: the writer's upsert makes the repeat harmless).
            metrics.OBJECTS.labels(outcome="unreadable").inc()
            log.warning("object unreadable; skipped, tried again next poll", key=obj.key, detail=str(error))
            return "unreadable"
        if streamed.fault is not None:
            await self.dead_letter(obj, streamed.fault, streamed.chunks)
        # Written even for a rejected object, so it is not retried every poll until it changes.
        checkpoint = completed_checkpoint(s.bucket, obj, streamed.records, streamed.chunks, self.generation)
        await self.publisher.send_checkpoint(s.checkpoint_topic, checkpoint)
        log.info(
            "object published",
            key=obj.key,
            etag=obj.etag,
            outcome=outcome.value,
            bytes=obj.size,
            records=streamed.records,
            chunks=streamed.chunks,
            rejected=streamed.fault is not None,
            seconds=round(time.perf_counter() - started, 3),
        )
        return "failed" if streamed.fault is not None else "published"

    async def stream(self, obj: ObjectInfo, term: int) -> Streamed:
        """Publish every chunk of the object and return once every one is acknowledged.

        A chunk is sent only once the next one exists, so the final message can say it is the last.
        Raises Interrupted (after letting what was sent be acknowledged) on stop or lost leadership.
        """
        s = self.settings
        chunks = self.s3.iter_chunks(obj, s.chunk_max_records, s.chunk_max_bytes, s.whole_object_max_bytes)
        in_flight: deque[asyncio.Future[object]] = deque()
        held: Chunk | None = None
        streamed = Streamed(records=0, chunks=0)
        try:
            while True:
                try:
                    chunk = await asyncio.to_thread(next_or_none, chunks)
                except MalformedObject as fault:
                    streamed.fault, chunk = fault, None
                if held is not None:
                    await self.may_go_on(term)
                    in_flight.append(await self.send_chunk(obj, held, last=chunk is None))
                    streamed.records += len(held.records)
                    streamed.chunks += 1
                if chunk is None:
                    break
                held = chunk
                while len(in_flight) >= _MAX_IN_FLIGHT:
                    await in_flight.popleft()
        finally:
            with contextlib.suppress(ValueError):  # still running in its thread: it ends with the process
                chunks.close()
            # What was sent is good data: let it be acknowledged before anything else happens.
            await asyncio.gather(*in_flight)
        return streamed

    async def send_chunk(self, obj: ObjectInfo, chunk: Chunk, last: bool) -> asyncio.Future[object]:
        position = source_position(self.settings.bucket, obj, chunk, self.generation)
        batch = RawBatch(source=position, last_chunk=last, records=chunk.records, published_at=datetime.now(UTC))
        future = await self.publisher.send_raw(self.settings.raw_topic, batch)
        metrics.MESSAGES_PUBLISHED.inc()
        metrics.RECORDS_PUBLISHED.inc(len(chunk.records))
        metrics.BYTES_PUBLISHED.inc(chunk.source_bytes)
        return future

    async def dead_letter(self, obj: ObjectInfo, fault: MalformedObject, chunks_sent: int) -> None:
        dead = rejected_object(self.settings.bucket, obj, fault, chunks_sent)
        await self.publisher.send_dead_letter(self.settings.dlq_topic, dead)
        metrics.DLQ_RECORDS.labels(reason=fault.reason.value).inc()
        metrics.OBJECTS.labels(outcome="failed").inc()
        log.warning("object rejected to the DLQ", key=obj.key, reason=fault.reason.value, detail=str(fault))


def next_or_none(chunks: Generator[Chunk]) -> Chunk | None:
    return next(chunks, None)
