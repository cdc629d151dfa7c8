"""The poller: treats the S3 bucket as an API and publishes new or changed objects to meter.raw.v1.

Run it with ``meterflow-poller`` (on a schedule: POLLER_INTERVAL_S, default 15 minutes, plus jitter) or
``meterflow-poller --once`` (one pass, for cron jobs and backfills; exits non-zero when the poll
failed); settings from POLLER_* / KAFKA_BOOTSTRAP_SERVERS / S3_ENDPOINT_URL / AWS_*. ``POST /poll`` on
the ops port starts a poll now. Instances sharing a bucket elect one leader through a Kafka consumer
group; only the leader polls (docs/poller.md). An object's checkpoint is written only after every chunk
of it was acknowledged, so a crash re-publishes the object from the start (the writer's upsert absorbs
the duplicates) and never skips one. A checkpoint is tombstoned only for an object missing from two
consecutive complete listings, never after an empty one. At start-up it warns about topics weaker than
configured (``kafka.topics``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import time
from collections import Counter
from enum import Enum
from typing import Protocol

import structlog
from aiohttp import web
from aiokafka.errors import KafkaError
from meterflow_contracts import CHECKPOINTS, DLQ, RAW
from meterflow_kit.backoff import backoff_delays
from meterflow_kit.lifecycle import first_of, freeze_startup_objects, install_stop_signals, sleep_or_stop
from meterflow_kit.logs import configure_logging
from meterflow_kit.ops import OpsServer
from meterflow_kit.topic_check import check_topics
from pydantic import ValidationError

from meterflow_poller import metrics
from meterflow_poller.config import Settings
from meterflow_poller.domain import Leadership, ObjectInfo, Outcome, Planner, confirmed_deletions
from meterflow_poller.errors import HttpSourceError, KafkaStateError, S3Error
from meterflow_poller.fencing import take_generation
from meterflow_poller.kafka import Election, Publisher, SoleLeader, load_checkpoints
from meterflow_poller.notifications import NotificationConsumer
from meterflow_poller.publishing import Interrupted, ObjectPublisher
from meterflow_poller.s3 import S3Source
from meterflow_poller.sources import SourcesFileError, source_settings

log = structlog.get_logger("meterflow.poller")


class Leader(Protocol):
    state: Leadership
    changed: asyncio.Event

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def wait_settled(self) -> None: ...


class PollResult(Enum):
    OK = "ok"
    RETRY = "retry"  # S3 or Kafka failed in a way that may pass
    FATAL = "fatal"  # only a configuration change helps (missing bucket, access denied)
    INTERRUPTED = "interrupted"  # stop requested or leadership lost: nothing partial was checkpointed


class Poller:
    """One source (a bucket and its prefixes): its elected listing and, if configured, its notifications.
    A poller process runs one per source (sources.py), sharing the Kafka producer and the stop signal."""

    def __init__(
        self,
        settings: Settings,
        leader: Leader | None = None,
        publisher: Publisher | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.source = settings.source_name
        self.s3 = S3Source(settings)
        self.publisher = publisher or Publisher(settings.kafka)
        self.objects = ObjectPublisher(settings, self.s3, self.publisher, self.may_go_on)
        self.leader: Leader = leader or (
            Election(settings.kafka, settings.checkpoint_topic, settings.election_group)
            if settings.election
            else SoleLeader()
        )
        self.stop = stop or asyncio.Event()
        self.trigger = asyncio.Event()
        self.healthy = False
        # Leadership term -> the generation taken for it (fencing.py); one take per term.
        self.generations: dict[int, int] = {}
        # With a notification queue, every instance publishes what S3 announces (notifications.py).
        self.notifications = (
            NotificationConsumer(settings, self.s3, self.publisher, self.stop)
            if settings.notification_queue_url
            else None
        )
        metrics.SOURCE_LEADER.labels(source=self.source).set_function(lambda: 1.0 if self.leader.state.leading else 0.0)

    # -- operations endpoint ------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, str]:
        state = self.leader.state
        if self.stop.is_set():
            return False, "stopping"
        if self.notifications is not None and self.notifications.healthy is False:
            return False, "S3 notifications failing (see meterflow_poller_notification_errors_total)"
        if not state.joined:
            return False, "joining the poller election group"
        if not state.leading:
            return True, "standby: another poller instance leads"
        if self.healthy:
            return True, "leader; last poll succeeded"
        return False, "leader; no successful poll yet, or S3/Kafka failing (see meterflow_poller_errors_total)"

    async def ready(self) -> tuple[bool, str]:
        return self.readiness()

    async def poll_now(self, _: web.Request) -> web.Response:
        if not self.leader.state.leading:
            return web.json_response({"status": "standby: the leader polls; ask it"}, status=409)
        self.trigger.set()
        return web.json_response({"status": "poll requested"}, status=202)

    # -- schedule --------------------------------------------------------------------------------------

    async def run(self, once: bool) -> bool:
        """Poll until stopped (and consume notifications, if configured); with ``once``, one listing poll.
        Returns False when a ``once`` poll failed."""
        if once:
            return await self.run_once()
        if self.notifications is not None:
            async with asyncio.TaskGroup() as group:
                group.create_task(self.notifications.run())
                listing = group.create_task(self.run_listing())
            return listing.result()
        return await self.run_listing()

    async def run_listing(self) -> bool:
        """The elected listing poll every interval until stopped."""
        delays = backoff_delays(base=1.0, cap=self.settings.retry_max_s)
        while await self.wait_leading(within_s=None):
            term = self.leader.state.term
            result = await self.poll_guarded(term)
            if result is PollResult.OK:
                delays = backoff_delays(base=1.0, cap=self.settings.retry_max_s)
                wait = self.settings.interval_s + random.uniform(0, self.settings.jitter_s)
            elif result is PollResult.INTERRUPTED:
                continue
            else:
                wait = next(delays)
                log.info("next poll after failure", seconds=round(wait, 2))
            await self.wait_for_next_poll(wait, term)
        return True  # a requested stop is a clean exit

    async def run_once(self) -> bool:
        if not await self.wait_leading(within_s=self.settings.leader_wait_s):
            if self.stop.is_set():
                return False
            log.info("another poller instance leads this bucket; --once leaves the poll to it")
            return True
        delays = backoff_delays(base=1.0, cap=self.settings.retry_max_s)
        for attempt in range(1, self.settings.once_attempts + 1):
            result = await self.poll_guarded(self.leader.state.term)
            if result is PollResult.OK:
                return True
            if result is not PollResult.RETRY or attempt == self.settings.once_attempts:
                break
            if await sleep_or_stop(self.stop, next(delays)):
                break
        return False

    async def wait_leading(self, within_s: float | None) -> bool:
        """Wait until this instance leads (True) or stop is requested or ``within_s`` passes (False)."""
        deadline = None if within_s is None else time.monotonic() + within_s
        announced = False
        while not self.stop.is_set():
            self.leader.changed.clear()
            state = self.leader.state
            if state.settled and state.leading:
                return True
            if state.joined and not state.leading and not announced:
                log.info("standby: another poller instance leads", group=self.settings.election_group)
                announced = True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            await first_of(self.stop.wait(), self.leader.changed.wait(), within_s=remaining)
        return False

    async def wait_for_next_poll(self, seconds: float, term: int) -> None:
        """Sleep until the next poll is due, a poll is requested, stop, or leadership changes hands."""
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and not self.trigger.is_set():
            self.leader.changed.clear()
            state = self.leader.state
            if state.settled and not state.may_publish(term):
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            await first_of(self.stop.wait(), self.trigger.wait(), self.leader.changed.wait(), within_s=remaining)

    # -- one poll --------------------------------------------------------------------------------------

    async def poll_guarded(self, term: int) -> PollResult:
        self.trigger.clear()
        started = time.perf_counter()
        try:
            await self.poll_once(term)
        except Interrupted:
            log.info("poll interrupted; no partial checkpoint written", stop=self.stop.is_set())
            return PollResult.INTERRUPTED
        except S3Error as error:
            self.failed("s3" if error.retriable else "s3_config")
            log.error("poll failed", source=self.source, error=str(error), retriable=error.retriable)
            return PollResult.RETRY if error.retriable else PollResult.FATAL
        except HttpSourceError as error:
            self.failed("http" if error.retriable else "http_config")
            log.error("poll failed", source=self.source, error=str(error), retriable=error.retriable)
            return PollResult.RETRY if error.retriable else PollResult.FATAL
        except (KafkaError, KafkaStateError) as error:
            self.failed("kafka")
            log.error("poll failed", source=self.source, error=str(error) or repr(error), retriable=True)
            return PollResult.RETRY
        except Exception as error:  # unexpected: stay alive, report, retry with backoff
            self.failed("internal")
            log.exception("poll failed", source=self.source, error=repr(error))
            return PollResult.RETRY
        metrics.POLL_SECONDS.observe(time.perf_counter() - started)
        metrics.LAST_SUCCESS.set(time.time())
        metrics.SOURCE_LAST_SUCCESS.labels(source=self.source).set(time.time())
        metrics.SOURCE_UP.labels(source=self.source).set(1)
        self.healthy = True
        return PollResult.OK

    def failed(self, kind: str) -> None:
        metrics.ERRORS.labels(kind=kind).inc()
        metrics.SOURCE_ERRORS.labels(source=self.source, kind=kind).inc()
        metrics.SOURCE_UP.labels(source=self.source).set(0)
        self.healthy = False

    async def may_go_on(self, term: int) -> None:
        """Raise Interrupted unless this instance may still publish work begun in ``term``."""
        if self.stop.is_set():
            raise Interrupted
        await self.leader.wait_settled()
        if self.stop.is_set() or not self.leader.state.may_publish(term):
            raise Interrupted

    async def take_generation(self, term: int) -> None:
        """Take a new leader generation when ``term`` has none yet; later polls of the term reuse it."""
        if term not in self.generations:
            await self.may_go_on(term)
            s = self.settings
            generation = await take_generation(
                s.kafka, s.checkpoint_topic, s.election_group, self.publisher.send_record
            )
            self.generations = {term: generation}
            log.info("leader generation taken", generation=generation, term=term)
        self.objects.generation = self.generations[term]

    async def poll_once(self, term: int) -> None:
        s = self.settings
        started = time.perf_counter()
        counts: Counter[str] = Counter()
        pages = self.s3.list_pages()
        # Objects are published a few at a time: one at a time, a poll waits on S3 and broker round trips.
        slots = asyncio.Semaphore(s.objects_in_flight)

        async def publish(obj: ObjectInfo, outcome: Outcome) -> None:
            try:
                counts[await self.objects.publish(obj, outcome, term)] += 1
            finally:
                slots.release()

        try:
            await self.take_generation(term)
            # The first page before the checkpoints: while S3 is down, a poll fails before it reads Kafka.
            page = await asyncio.to_thread(next, pages, None)
            checkpoints = await load_checkpoints(s.kafka, s.checkpoint_topic, s.bucket, s.election_group)
            planner = Planner(checkpoints, s.prefixes)
            async with asyncio.TaskGroup() as group:
                while page is not None:
                    for obj in page:
                        outcome = planner.classify(obj)
                        counts["listed"] += 1
                        counts[outcome.value] += 1
                        metrics.OBJECTS.labels(outcome="listed").inc()
                        metrics.OBJECTS.labels(outcome=outcome.value).inc()
                        if outcome is not Outcome.SKIPPED:
                            await self.may_go_on(term)
                            await slots.acquire()
                            group.create_task(publish(obj, outcome))
                    page = await asyncio.to_thread(next, pages, None)
        except BaseExceptionGroup as failures:
            # The first failure stops the poll (the others were cancelled with it), as it did in sequence.
            raise failures.exceptions[0] from None
        finally:
            pages.close()
        for key in await self.confirmed_deletions(planner):
            await self.may_go_on(term)
            await self.publisher.forget_checkpoint(s.checkpoint_topic, s.bucket, key)
            metrics.OBJECTS.labels(outcome="deleted").inc()
            counts["deleted"] += 1
            log.info("object deleted; checkpoint tombstoned", key=key)
        for counted in ("listed", "new", "changed", "skipped", "published", "failed", "deleted"):
            metrics.SOURCE_OBJECTS.labels(source=self.source, outcome=counted).inc(counts[counted])
        log.info(
            "poll done",
            source=self.source,
            bucket=s.bucket,
            seconds=round(time.perf_counter() - started, 3),
            **{
                k: counts[k]
                for k in ("listed", "new", "changed", "skipped", "published", "failed", "vanished", "unreadable")
            },
            deleted=counts["deleted"],
        )

    async def confirmed_deletions(self, planner: Planner) -> list[str]:
        """The checkpointed objects missing from this poll's listing and from a second complete listing
        taken now: a deletion is acted on only when seen twice, and never on an empty listing."""
        if planner.listing_empty:
            metrics.LISTING_DISTRUSTED.labels(reason="empty").inc()
            log.warning(
                "the listing is empty although checkpoints exist; no checkpoint is tombstoned",
                bucket=self.settings.bucket,
                prefixes=self.settings.prefixes,
            )
            return []
        missing = planner.missing()
        if not missing:
            return []
        confirmed = await asyncio.to_thread(self.relist_missing, missing)
        if len(confirmed) < len(missing):
            metrics.LISTING_DISTRUSTED.labels(reason="unconfirmed").inc(len(missing) - len(confirmed))
            log.warning(
                "objects missing from the listing are listed again (or the second listing was empty); "
                "their checkpoints are kept",
                keys=sorted(set(missing) - set(confirmed))[:20],
                count=len(missing) - len(confirmed),
            )
        return confirmed

    def relist_missing(self, missing: list[str]) -> list[str]:
        pages = self.s3.list_pages()
        try:
            return confirmed_deletions(missing, (obj for page in pages for obj in page))
        finally:
            pages.close()


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM). getrusage's ru_maxrss would include the peak of the process
    that started this one (Linux folds it in at exec after a vfork), so it is only the fallback."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


async def serve(settings: Settings, once: bool) -> bool:
    """Run every source (one, or those of POLLER_SOURCES_FILE) until stopped; True unless a ``once``
    poll of some source failed."""
    stop = asyncio.Event()
    install_stop_signals(stop)
    publisher = Publisher(settings.kafka)
    pollers = [poller_of(source, publisher, stop) for source in source_settings(settings)]
    metrics.READY.set_function(lambda: 1.0 if all(p.readiness()[0] for p in pollers) else 0.0)
    metrics.LEADER.set_function(lambda: 1.0 if any(p.leader.state.leading for p in pollers) else 0.0)

    async def ready() -> tuple[bool, str]:
        states = [(p.source, *p.readiness()) for p in pollers]
        if len(states) == 1:
            return states[0][1], states[0][2]
        return all(ok for _, ok, _ in states), "; ".join(f"{name}: {detail}" for name, _, detail in states)

    async def poll_now(request: web.Request) -> web.Response:
        answers = [await p.poll_now(request) for p in pollers]
        accepted = any(a.status == 202 for a in answers)
        status = "poll requested" if accepted else "standby: the leader polls; ask it"
        return web.json_response({"status": status}, status=202 if accepted else 409)

    ops = OpsServer(settings.ops_host, settings.ops_port, ready, [("POST", "/poll", poll_now)])
    await ops.start()
    for poller in pollers:
        s = poller.settings
        log.info(
            "poller starting",
            source=poller.source,
            kind=s.kind,
            bucket=s.bucket,
            prefixes=s.prefixes,
            once=once,
            election=s.election_group if s.election else "off",
            interval_s=s.interval_s,
            notifications=s.notification_queue_url or "off",
        )
    try:
        await publisher.start()
        await check_topics(
            settings.kafka,
            {settings.raw_topic: RAW, settings.dlq_topic: DLQ, settings.checkpoint_topic: CHECKPOINTS},
        )
        freeze_startup_objects()
        try:
            # Each source runs on its own: its failures back off and retry without touching the others.
            return all(await asyncio.gather(*(run_source(p, once) for p in pollers)))
        finally:
            await publisher.stop()
    finally:
        await ops.stop()
        log.info("poller stopped", peak_rss_mb=peak_rss_mb())


def poller_of(settings: Settings, publisher: Publisher, stop: asyncio.Event) -> Poller:
    """The poller of a source's kind (imported here: http_source builds on Poller)."""
    if settings.kind == "http":
        from meterflow_poller.http_source import HttpPoller

        return HttpPoller(settings, publisher=publisher, stop=stop)
    return Poller(settings, publisher=publisher, stop=stop)


async def run_source(poller: Poller, once: bool) -> bool:
    await poller.leader.start()
    try:
        return await poller.run(once)
    finally:
        await poller.leader.stop()


def cli() -> None:
    parser = argparse.ArgumentParser(prog="meterflow-poller", description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="poll once and exit (non-zero on failure)")
    args = parser.parse_args()
    try:
        settings = Settings()  # credentials come from the environment
        source_settings(settings)  # a bad sources file stops the start, before anything connects
    except ValidationError as error:
        configure_logging("poller")
        log.error("invalid settings", errors=error.errors(include_url=False, include_input=False))
        sys.exit(2)
    except SourcesFileError as error:
        configure_logging("poller")
        log.error("invalid sources file", error=str(error))
        sys.exit(2)
    configure_logging("poller", settings.log_level)
    try:
        ok = asyncio.run(serve(settings, args.once))
    except (KafkaError, KafkaStateError) as error:
        log.error(
            "Kafka is not usable: check KAFKA_BOOTSTRAP_SERVERS and the topics",
            bootstrap=settings.kafka.bootstrap_servers,
            error=str(error) or repr(error),
        )
        sys.exit(1)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    cli()
