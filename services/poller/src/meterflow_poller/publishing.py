"""Publishing one object: its chunks to meter.raw.v1 (a few in flight), then its checkpoint. A record the
poller cannot publish (no double holds one of its numbers; too large for a raw message) is dead-lettered
on its own and the object's other records go on; a malformed object publishes its good chunks, a dead
letter and the checkpoint. An object that fails for a reason no retry fixes is dead-lettered and
checkpointed too, so no object ever blocks the objects after it. The poller's schedule (main.py) decides
which objects; this module moves one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import reprlib
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
import structlog
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError
from meterflow_contracts import RAW, DlqReason, RawBatch
from meterflow_kit.tracing import trace_headers, trace_id

from meterflow_poller import metrics
from meterflow_poller.config import Settings
from meterflow_poller.domain import (
    Chunk,
    ObjectInfo,
    Outcome,
    RejectedRecord,
    completed_checkpoint,
    rejected_object,
    rejected_record,
    source_position,
    split_chunk,
)
from meterflow_poller.errors import KafkaStateError, MalformedObject, ObjectGone, ObjectUnreadable, S3Error
from meterflow_poller.kafka import Publisher
from meterflow_poller.parsing import EVIDENCE_BYTES, Piece
from meterflow_poller.s3 import S3Source

log = structlog.get_logger("meterflow.poller")

# Raw messages in flight per object: enough to keep the broker busy, few enough to bound memory.
_MAX_IN_FLIGHT = 4
# The broker refuses these for good: the message is too large for the topic, however often it is sent.
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)

# The evidence of a record JSON encoders refuse: a bounded repr, safe however deep the record is nested.
_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxlist, _EXCERPT.maxdict, _EXCERPT.maxstring = 50, 100, 100, EVIDENCE_BYTES

# Raises Interrupted unless this instance may still publish work begun in the given leadership term.
MayGoOn = Callable[[int], Awaitable[None]]


class Interrupted(Exception):
    """Stop was requested or leadership was lost: abandon the poll without a partial checkpoint."""


@dataclass(slots=True)
class Streamed:
    records: int = 0
    chunks: int = 0
    rejected: int = 0
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
        """Publish one object and checkpoint it; returns published, failed, vanished or unreadable."""
        s = self.settings
        started = time.perf_counter()
        streamed = Streamed()
        try:
            await self.stream(obj, term, streamed)
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
        except _TOO_LARGE as error:
            # Only a topic whose limit is below the declared one gets here (chunks are sized to fit).
            refused = f"the broker refused a raw message as too large ({error!r}): check the topic's max.message.bytes"
            streamed.fault = object_fault(DlqReason.RECORD_TOO_LARGE, streamed, refused)
        except (Interrupted, KafkaError, KafkaStateError, S3Error):
            raise  # the poll stops and is tried again: these pass, and then the object is published
        except Exception as error:
            log.exception("unexpected error while publishing an object", key=obj.key, error=repr(error))
            streamed.fault = object_fault(DlqReason.UNEXPECTED_ERROR, streamed, f"unexpected error: {error!r}")
        if streamed.fault is not None:
            await self.dead_letter(obj, streamed.fault, streamed.chunks)
        # Written even for a rejected object, so it is not retried every poll until it changes.
        checkpoint = completed_checkpoint(s.bucket, obj, streamed.records, streamed.chunks, self.generation)
        await self.publisher.send_checkpoint(s.checkpoint_topic, checkpoint)
        log.info(
            "object published",
            key=obj.key,
            etag=obj.etag,
            trace_id=trace_id(s.bucket, obj.key, obj.etag),
            outcome=outcome.value,
            bytes=obj.size,
            records=streamed.records,
            chunks=streamed.chunks,
            records_rejected=streamed.rejected,
            rejected=streamed.fault is not None,
            seconds=round(time.perf_counter() - started, 3),
        )
        return "failed" if streamed.fault is not None else "published"

    async def stream(self, obj: ObjectInfo, term: int, streamed: Streamed) -> None:
        """Publish every chunk of the object (and dead-letter its rejected records); return once every
        message is acknowledged. Counts go into ``streamed`` as they happen.

        A chunk is sent only once the next one exists, so the final message can say it is the last.
        Raises Interrupted (after letting what was sent be acknowledged) on stop or lost leadership.
        """
        s = self.settings
        pieces = self.s3.iter_chunks(obj, s.chunk_max_records, s.chunk_max_bytes, s.whole_object_max_bytes)
        in_flight: deque[asyncio.Future[object]] = deque()
        held: Chunk | None = None
        try:
            while True:
                try:
                    piece = await asyncio.to_thread(next_or_none, pieces)
                except MalformedObject as fault:
                    streamed.fault, piece = fault, None
                if isinstance(piece, RejectedRecord):
                    await self.may_go_on(term)
                    await self.reject_record(obj, piece, streamed)
                    continue
                if held is not None:
                    await self.may_go_on(term)
                    await self.send_chunk(obj, held, piece is None, streamed, in_flight)
                if piece is None:
                    break
                held = piece
                while len(in_flight) >= _MAX_IN_FLIGHT:
                    await in_flight.popleft()
        finally:
            with contextlib.suppress(ValueError):  # still running in its thread: it ends with the process
                pieces.close()
            # What was sent is good data: let it be acknowledged before anything else happens.
            await asyncio.gather(*in_flight)

    async def send_chunk(
        self, obj: ObjectInfo, chunk: Chunk, last: bool, streamed: Streamed, in_flight: deque[asyncio.Future[object]]
    ) -> None:
        """Send the chunk as one raw message if it fits the topic's limit; otherwise in halves, down to
        single records, and a record that does not fit alone is dead-lettered (record_too_large), as is
        one that cannot be encoded at all (unexpected_error)."""
        position = source_position(self.settings.bucket, obj, chunk, streamed.chunks, self.generation)
        batch = RawBatch(
            source=position,
            last_chunk=last,
            records=chunk.records,
            published_at=datetime.now(UTC),
            tenant=self.settings.tenant,
        )
        failure: ValueError | None = None
        try:
            message: tuple[bytes, bytes] | None = RAW.serialize(batch)
        except ValueError as error:  # a record no JSON encoder takes: nested deeper than encoders recurse
            message, failure = None, error
        if message is not None and RAW.fits(*message):
            in_flight.append(await self.publisher.send_raw(self.settings.raw_topic, message, trace_headers(position)))
            streamed.records += len(chunk.records)
            streamed.chunks += 1
            metrics.MESSAGES_PUBLISHED.inc()
            metrics.RECORDS_PUBLISHED.inc(len(chunk.records))
            metrics.BYTES_PUBLISHED.inc(chunk.source_bytes)
            return
        del batch, message  # a huge record: hold it once, not three times
        if len(chunk.records) == 1:
            await self.reject_record(
                obj, too_large(chunk) if failure is None else unencodable(chunk, failure), streamed
            )
            return
        first, rest = split_chunk(chunk, len(chunk.records) // 2)
        await self.send_chunk(obj, first, False, streamed, in_flight)
        await self.send_chunk(obj, rest, last, streamed, in_flight)

    async def reject_record(self, obj: ObjectInfo, rejected: RejectedRecord, streamed: Streamed) -> None:
        dead = rejected_record(self.settings.bucket, obj, rejected, streamed.chunks)
        await self.publisher.send_dead_letter(self.settings.dlq_topic, dead)
        streamed.rejected += 1
        metrics.DLQ_RECORDS.labels(reason=rejected.reason.value).inc()
        log.warning(
            "record rejected to the DLQ",
            key=obj.key,
            record=rejected.index,
            reason=rejected.reason.value,
            detail=rejected.detail,
        )

    async def dead_letter(self, obj: ObjectInfo, fault: MalformedObject, chunks_sent: int) -> None:
        dead = rejected_object(self.settings.bucket, obj, fault, chunks_sent)
        await self.publisher.send_dead_letter(self.settings.dlq_topic, dead)
        metrics.DLQ_RECORDS.labels(reason=fault.reason.value).inc()
        metrics.OBJECTS.labels(outcome="failed").inc()
        log.warning("object rejected to the DLQ", key=obj.key, reason=fault.reason.value, detail=str(fault))


def too_large(chunk: Chunk) -> RejectedRecord:
    """The rejection of a chunk's single record that no raw message can hold."""
    try:
        encoded = orjson.dumps(chunk.records[0])
    except orjson.JSONEncodeError as error:  # deeper than orjson recurses (the raw encoder went deeper)
        return unencodable(chunk, ValueError(f"too large for a raw message, and {error}"))
    return RejectedRecord(
        chunk.record_start,
        DlqReason.RECORD_TOO_LARGE,
        f"the record is {len(encoded)} bytes as JSON, more than a raw message holds "
        f"({RAW.max_message_bytes} bytes with the envelope); the evidence is its first {EVIDENCE_BYTES} bytes",
        encoded[:EVIDENCE_BYTES].decode("utf-8", "ignore"),
    )


def unencodable(chunk: Chunk, error: ValueError) -> RejectedRecord:
    """The rejection of a chunk's single record that cannot be encoded as JSON (nested too deep)."""
    return RejectedRecord(
        chunk.record_start,
        DlqReason.UNEXPECTED_ERROR,
        f"the record cannot be encoded as JSON: {error}",
        _EXCERPT.repr(chunk.records[0])[:EVIDENCE_BYTES],
    )


def object_fault(reason: DlqReason, streamed: Streamed, message: str) -> MalformedObject:
    """An object given up after ``streamed`` records: they were published, the rest is in the DLQ."""
    return MalformedObject(reason, message, records_before=streamed.records + streamed.rejected, byte_offset=0)


def next_or_none(pieces: Generator[Piece]) -> Piece | None:
    return next(pieces, None)
