"""The HTTP source (``kind: http``, docs/sources.md, "HTTP"): readings pulled from an API in the source
company's format (``GET /meterdata/measurement?muid&measurement&start&stop&limit``, as Meterflow's own API
serves it), per meter in moving windows, and published through the same path as an S3 object.

A window of a meter is published like an S3 object of key ``<muid>/<measurement>/<start>_<stop>`` in the
pseudo-bucket ``http:<source>``: each page's new records as raw chunks (the raw contract unchanged, the
page's ETag or body hash as the version and its Last-Modified or fetch time as the data's time), then the
checkpoint ``http:<source>/<muid>/<measurement>`` holding the window's end (http_window.py). The schedule,
the election (one leader per source) and the fencing are the S3 listing's (main.Poller). A body that holds
no page is dead-lettered and its window fetched again next poll; a meter whose server does not answer
waits for the next poll while the other meters go on.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import structlog
from meterflow_contracts import Checkpoint, DeadLetter, DlqReason, SourcePosition

from meterflow_poller import metrics
from meterflow_poller.config import HttpSettings, Settings
from meterflow_poller.domain import Chunk, ObjectInfo
from meterflow_poller.errors import HttpSourceError
from meterflow_poller.http_client import HttpFetcher, Page, Validators
from meterflow_poller.http_window import (
    BadBody,
    Deduper,
    PageSummary,
    Window,
    body_version,
    decode_checkpoint,
    due_windows,
    encode_checkpoint,
    evidence,
    iso,
    next_stop,
    parse_page,
    summarize,
)
from meterflow_poller.kafka import Publisher, load_checkpoints
from meterflow_poller.main import Leader, Poller
from meterflow_poller.publishing import Streamed

log = structlog.get_logger("meterflow.poller.http")

# Raw messages in flight per window: as for an S3 object.
_MAX_IN_FLIGHT = 4

PageKey = tuple[str, str, str]  # muid, window start, page stop


@dataclass(frozen=True, slots=True)
class Remembered:
    """A page the server gave validators for, kept until its window completes: a 304 then means the page
    was published already, and its summary lets paging and deduplication go on."""

    validators: Validators
    summary: PageSummary
    published: int  # of its records, those new in the window: the record indices it took


@dataclass(slots=True)
class WindowRun:
    """One fetch of one window: what was published so far and the page held back until the next exists
    (so the window's final raw message can say it is the last)."""

    key: str
    streamed: Streamed
    dedupe: Deduper
    in_flight: deque[asyncio.Future[object]]
    held: tuple[ObjectInfo, Chunk] | None = None
    position: int = 0
    size: int = 0
    # Pages with validators, remembered for the window's next fetch once this one's records are acknowledged.
    remember: dict[PageKey, Remembered] = field(default_factory=dict)


class HttpPoller(Poller):
    """One http source: its elected poll walks each meter's due windows and publishes them."""

    def __init__(
        self,
        settings: Settings,
        leader: Leader | None = None,
        publisher: Publisher | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        super().__init__(settings, leader, publisher, stop)
        if settings.http is None:
            raise ValueError("an http source needs its http settings")
        self.http: HttpSettings = settings.http
        self.fetcher = HttpFetcher(self.source, self.http, settings.retry_max_s, self.stop)
        self.remembered: dict[PageKey, Remembered] = {}

    async def run(self, once: bool) -> bool:
        try:
            return await super().run(once)
        finally:
            await self.fetcher.close()

    async def poll_once(self, term: int) -> None:
        s, http = self.settings, self.http
        await self.take_generation(term)
        checkpoints = await load_checkpoints(s.kafka, s.checkpoint_topic, s.bucket, s.election_group)
        counts: Counter[str] = Counter()
        failures: list[HttpSourceError] = []
        now = datetime.now(UTC)
        for muid in http.muids:
            done = decode_checkpoint(checkpoints.get(f"{muid}/{http.measurement}"))
            windows = due_windows(
                http.start, done, timedelta(seconds=http.window_s), timedelta(seconds=http.settle_s), now, http.until
            )
            for window in windows:
                await self.may_go_on(term)
                try:
                    outcome = await self.fetch_window(muid, window, term)
                except HttpSourceError as error:
                    failures.append(error)
                    outcome = "failed"
                    log.warning(
                        "window not fetched; tried again next poll",
                        source=self.source,
                        muid=muid,
                        window=window.label,
                        error=str(error),
                    )
                counts[outcome] += 1
                metrics.HTTP_WINDOWS.labels(source=self.source, outcome=outcome).inc()
                if outcome != "completed":
                    break  # the checkpoint is the last completed window: later ones wait for this one
        log.info("poll done", source=self.source, meters=len(http.muids), **counts)
        if failures:
            raise HttpSourceError(
                f"{len(failures)} meter(s) not fetched, first: {failures[0]}",
                retriable=any(f.retriable for f in failures),
            )

    async def fetch_window(self, muid: str, window: Window, term: int) -> str:
        """Publish one window page by page and checkpoint it; returns completed or bad_body. The pages a
        server gave validators for are remembered only once their records are acknowledged: a later 304
        must never stand for records that were lost."""
        run = WindowRun(f"{muid}/{self.http.measurement}/{window.label}", Streamed(), Deduper(), deque())
        try:
            outcome = await self.fetch_pages(muid, window, run, term)
            if outcome == "completed":
                await self.release_held(run, last=True, term=term)
        finally:
            await asyncio.gather(*run.in_flight)
        if outcome == "completed":
            await self.checkpoint(muid, window, run)
        else:
            self.remembered.update(run.remember)
        return outcome

    async def fetch_pages(self, muid: str, window: Window, run: WindowRun, term: int) -> str:
        """Walk the window's pages, publishing (the last one held back); completed or bad_body."""
        http = self.http
        stop: datetime | None = window.stop
        previous_oldest: datetime | None = None
        while stop is not None:
            page_key = (muid, iso(window.start), iso(stop))
            remembered = self.remembered.get(page_key)
            params: dict[str, str | int] = {
                "muid": muid,
                "measurement": http.measurement,
                "start": iso(window.start),
                "stop": iso(stop),
                "limit": http.limit,
            }
            page = await self.fetcher.page(params, remembered.validators if remembered else None)
            await self.may_go_on(term)
            if page.not_modified and remembered is not None:
                summary = remembered.summary
                run.dedupe.seen |= summary.ids
                run.position += remembered.published
            else:
                before = run.position
                try:
                    summary = await self.publish_page(run, page, term)
                except BadBody as bad:
                    await self.dead_letter(run, page, params, bad, term)
                    return "bad_body"
                if page.validators != Validators():
                    run.remember[page_key] = Remembered(page.validators, summary, run.position - before)
            stop, previous_oldest = next_stop(summary, http.limit, stop, previous_oldest), summary.oldest
        return "completed"

    async def publish_page(self, run: WindowRun, page: Page, term: int) -> PageSummary:
        """Publish the page's records not seen earlier in the window; raises BadBody for a body that holds
        no page (a 304 the poller did not ask for included)."""
        if page.not_modified:
            raise BadBody("not_modified", DlqReason.INVALID_SHAPE, "304 Not Modified without a conditional request")
        records = parse_page(page.headers.get("content-type"), page.body)
        summary = summarize(records)
        fresh = run.dedupe.new(records)
        duplicates = len(records) - len(fresh)
        metrics.HTTP_RECORDS.labels(source=self.source, outcome="duplicate").inc(duplicates)
        metrics.HTTP_RECORDS.labels(source=self.source, outcome="published").inc(len(fresh))
        run.size += len(page.body)
        obj = ObjectInfo(run.key, body_version(page.headers, page.body), len(page.body), data_time(page))
        step = self.settings.chunk_max_records
        for first in range(0, len(fresh), step):
            part = fresh[first : first + step]
            share = len(page.body) * len(part) // max(1, len(records))
            await self.release_held(run, last=False, term=term)
            run.held = (obj, Chunk(run.streamed.chunks, run.position, part, share))
            run.position += len(part)
        return summary

    async def release_held(self, run: WindowRun, last: bool, term: int) -> None:
        if run.held is None:
            return
        await self.may_go_on(term)
        obj, chunk = run.held
        run.held = None
        await self.objects.send_chunk(obj, chunk, last, run.streamed, run.in_flight)
        while len(run.in_flight) >= _MAX_IN_FLIGHT:
            await run.in_flight.popleft()

    async def dead_letter(
        self, run: WindowRun, page: Page, params: dict[str, str | int], bad: BadBody, term: int
    ) -> None:
        """The bad body to the DLQ, after the window's good pages so far; no checkpoint: the window is
        fetched again next poll."""
        await self.release_held(run, last=False, term=term)
        s = self.settings
        position = SourcePosition(
            bucket=s.bucket,
            key=run.key,
            etag=body_version(page.headers, page.body),
            chunk_index=run.streamed.chunks,
            record_start=run.position,
            record_end=run.position,
            last_modified=data_time(page),
            generation=self.objects.generation,
        )
        url = f"{self.http.base_url.rstrip('/')}{self.http.path}"
        dead = DeadLetter(
            reason=bad.reason,
            message=f"{url} {params} ({bad.code}): {bad}",
            stage="poller",
            record=evidence(page.body),
            source=position,
            failed_at=datetime.now(UTC),
        )
        await self.publisher.send_dead_letter(s.dlq_topic, dead)
        metrics.DLQ_RECORDS.labels(reason=bad.reason.value).inc()
        metrics.HTTP_BAD_BODIES.labels(source=self.source, code=bad.code).inc()
        log.warning(
            "response body dead-lettered; the window is fetched again next poll",
            source=self.source,
            key=run.key,
            code=bad.code,
            detail=str(bad),
        )

    async def checkpoint(self, muid: str, window: Window, run: WindowRun) -> None:
        s = self.settings
        checkpoint = Checkpoint(
            bucket=s.bucket,
            key=f"{muid}/{self.http.measurement}",
            etag=encode_checkpoint(window.stop),
            size=run.size,
            records=run.streamed.records,
            chunks=run.streamed.chunks,
            completed_at=datetime.now(UTC),
            generation=self.objects.generation,
        )
        await self.publisher.send_checkpoint(s.checkpoint_topic, checkpoint)
        start = iso(window.start)
        for key in [k for k in self.remembered if k[0] == muid and k[1] == start]:
            del self.remembered[key]
        log.info(
            "window published",
            source=self.source,
            key=run.key,
            records=run.streamed.records,
            chunks=run.streamed.chunks,
        )


def data_time(page: Page) -> datetime:
    """The version time of a page's readings: the server's Last-Modified, else when it was fetched."""
    text = page.headers.get("last-modified")
    if text:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return page.fetched_at
        return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return page.fetched_at
