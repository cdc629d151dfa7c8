"""The S3 event notification source: publishes objects as S3 announces them on an SQS queue.

Every poller instance consumes the queue (SQS hands each message to one consumer at a time, so the queue,
not an election, splits the work, and throughput grows with instances). Delivery is at least once and in no
particular order, so a notification is only a hint: the consumer looks at the object's current version
(HEAD) and acts on that: publish it unless its checkpoint already names that ETag, tombstone the checkpoint
of an object that no longer exists. A queue message is deleted only after all its objects are published and
checkpointed; a failure leaves it in the queue, and SQS redelivers it after the visibility timeout. The
elected listing of main.py still runs every ``interval_s`` as the safety net for a lost notification.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from aiokafka.errors import KafkaError
from meterflow_kit.backoff import backoff_delays
from meterflow_kit.lifecycle import first_of, sleep_or_stop

from meterflow_poller import metrics
from meterflow_poller.config import Settings
from meterflow_poller.domain import Outcome, under_prefixes
from meterflow_poller.errors import KafkaStateError, S3Error
from meterflow_poller.events import EventKind, NotNotification, ObjectEvent, parse_notification
from meterflow_poller.kafka import Publisher, load_checkpoints
from meterflow_poller.publishing import Interrupted, ObjectPublisher
from meterflow_poller.s3 import S3Source
from meterflow_poller.sqs import Message, SqsQueue

log = structlog.get_logger("meterflow.poller.notifications")

# Notification-published objects carry no leader generation: no election orders them (the normalizer's
# fence lets generation-less batches pass; the writer's source version orders versions of one object).
NO_TERM = 0


class NotificationConsumer:
    def __init__(self, settings: Settings, s3: S3Source, publisher: Publisher, stop: asyncio.Event) -> None:
        self.settings = settings
        self.s3 = s3
        self.publisher = publisher
        self.stop = stop
        self.queue = SqsQueue(settings)
        self.objects = ObjectPublisher(settings, s3, publisher, self._may_go_on)
        # Object key -> ETag last checkpointed: loaded once, then kept by this instance. Another instance's
        # checkpoints are not seen until a restart: at worst an object is published twice (idempotent).
        self.checkpoints: dict[str, str] | None = None
        self.healthy: bool | None = None  # None until the first receive

    async def _may_go_on(self, _: int) -> None:
        if self.stop.is_set():
            raise Interrupted

    async def run(self) -> None:
        """Consume until stopped; failures back off and leave their messages to be redelivered."""
        s = self.settings
        log.info("consuming S3 notifications", queue=s.notification_queue_url, bucket=s.bucket)
        delays = backoff_delays(base=1.0, cap=s.retry_max_s)
        while not self.stop.is_set():
            try:
                if self.checkpoints is None:
                    self.checkpoints = await load_checkpoints(s.kafka, s.checkpoint_topic, s.bucket, s.election_group)
                await self.handle_batch()
            except Interrupted:
                break
            except Exception as error:  # every failure backs off; the kind names it
                self.healthy = False
                kind = _error_kind(error)
                metrics.NOTIFICATION_ERRORS.labels(kind=kind).inc()
                log.error("notifications failed; they stay in the queue", kind=kind, error=str(error) or repr(error))
                if await sleep_or_stop(self.stop, next(delays)):
                    break
                continue
            self.healthy = True
            delays = backoff_delays(base=1.0, cap=s.retry_max_s)

    async def handle_batch(self) -> None:
        receiving = asyncio.ensure_future(asyncio.to_thread(self.queue.receive))
        # A long poll may hold its thread for up to 20 s: stop does not wait for it (what it receives
        # then is never deleted, so SQS hands it out again after the visibility timeout).
        await first_of(self.stop.wait(), asyncio.shield(receiving), within_s=None)
        if self.stop.is_set():
            raise Interrupted
        messages = receiving.result()
        if not messages:
            return
        metrics.NOTIFICATIONS.labels(outcome="received").inc(len(messages))
        latest: dict[str, ObjectEvent] = {}
        for message in messages:
            for event in self.events_of(message):
                latest[event.key] = event  # what counts is the object's current state, read below
        slots = asyncio.Semaphore(self.settings.objects_in_flight)

        async def handle(event: ObjectEvent) -> None:
            async with slots:
                await self.handle(event)

        async with asyncio.TaskGroup() as group:
            for event in latest.values():
                group.create_task(handle(event))
        await asyncio.to_thread(self.queue.delete, messages)

    def events_of(self, message: Message) -> list[ObjectEvent]:
        s = self.settings
        try:
            events = parse_notification(message.body)
        except NotNotification as error:
            metrics.NOTIFICATIONS.labels(outcome="invalid").inc()
            log.warning("queue message is not an S3 notification; deleted", detail=str(error), body=message.body[:200])
            return []
        mine = [e for e in events if e.bucket == s.bucket and under_prefixes(e.key, s.prefixes)]
        if len(mine) < len(events):
            metrics.NOTIFICATIONS.labels(outcome="ignored").inc(len(events) - len(mine))
        return mine

    async def handle(self, event: ObjectEvent) -> None:
        """Bring the object's checkpoint to its current state: publish a version not checkpointed yet,
        tombstone the checkpoint of an object that is gone."""
        assert self.checkpoints is not None
        obj = await asyncio.to_thread(self.s3.head, event.key)
        if obj is None:
            if self.checkpoints.pop(event.key, None) is not None:
                await self.publisher.forget_checkpoint(self.settings.checkpoint_topic, self.settings.bucket, event.key)
                metrics.NOTIFICATIONS.labels(outcome="removed").inc()
                log.info("object removed; checkpoint tombstoned", key=event.key)
            else:
                metrics.NOTIFICATIONS.labels(outcome="gone").inc()
            return
        known = self.checkpoints.get(obj.key)
        if known == obj.etag:
            metrics.NOTIFICATIONS.labels(outcome="skipped").inc()
            return
        outcome = Outcome.NEW if known is None else Outcome.CHANGED
        result = await self.objects.publish(obj, outcome, NO_TERM)
        if result in ("published", "failed"):  # checkpointed (a failed object is in the DLQ)
            self.checkpoints[obj.key] = obj.etag
            metrics.NOTIFICATIONS.labels(outcome="published").inc()
            if event.kind is EventKind.CREATED and event.etag == obj.etag:
                metrics.NOTIFICATION_DELAY.observe(max(0.0, (datetime.now(UTC) - event.at).total_seconds()))


def _error_kind(error: Exception) -> str:
    if isinstance(error, S3Error):
        sqs = "SQS" in str(error)
        return ("sqs" if sqs else "s3") + ("" if error.retriable else "_config")
    if isinstance(error, KafkaError | KafkaStateError):
        return "kafka"
    if isinstance(error, BaseExceptionGroup):
        return _error_kind(error.exceptions[0]) if isinstance(error.exceptions[0], Exception) else "internal"
    return "internal"
