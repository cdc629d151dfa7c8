"""HTTP adapter of the HTTP source: one page request with the source's headers, a timeout, conditional
validators, a per-source rate limit, and retries with capped exponential backoff and full jitter that
honour Retry-After on 429 and 503. Only the outcome leaves this module: a page (200), not modified (304),
or an HttpSourceError."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import structlog
from meterflow_kit.backoff import backoff_delays
from meterflow_kit.lifecycle import sleep_or_stop

from meterflow_poller import metrics
from meterflow_poller.config import HttpSettings
from meterflow_poller.errors import HttpSourceError
from meterflow_poller.http_window import retry_after_s
from meterflow_poller.publishing import Interrupted

log = structlog.get_logger("meterflow.poller.http")

# Statuses worth asking again: the server or a proxy is busy or failing for now.
_RETRIABLE = frozenset({408, 425, 429, 500, 502, 503, 504})
# Statuses whose Retry-After says when to ask again.
_ASKS_TO_WAIT = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class Validators:
    """What a server said about a page, for asking it again conditionally."""

    etag: str | None = None
    last_modified: str | None = None

    def headers(self) -> dict[str, str]:
        asked: dict[str, str] = {}
        if self.etag:
            asked["If-None-Match"] = self.etag
        if self.last_modified:
            asked["If-Modified-Since"] = self.last_modified
        return asked


@dataclass(frozen=True, slots=True)
class Page:
    """A 200 or 304 answer: ``body`` is empty for 304 (``not_modified``)."""

    status: int
    body: bytes
    headers: Mapping[str, str]
    fetched_at: datetime

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def validators(self) -> Validators:
        return Validators(self.headers.get("etag"), self.headers.get("last-modified"))


class RateLimit:
    """At most ``rate_per_s`` request starts per second for a source: each waits its turn."""

    def __init__(self, rate_per_s: float) -> None:
        self._gap = 1.0 / rate_per_s
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def turn(self) -> None:
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(now, self._next) + self._gap
        if wait > 0:
            await asyncio.sleep(wait)


class HttpFetcher:
    def __init__(self, source: str, http: HttpSettings, retry_max_s: float, stop: asyncio.Event) -> None:
        self.source = source
        self.stop = stop
        self.http = http
        self.retry_max_s = retry_max_s
        self.rate = RateLimit(http.rate_per_s)
        headers = {name: value.get_secret_value() for name, value in http.headers.items()}
        self._client = httpx.AsyncClient(
            base_url=http.base_url,
            headers={"Accept": "application/json", **headers},
            timeout=httpx.Timeout(http.timeout_s),
            follow_redirects=True,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def page(self, params: Mapping[str, str | int], validators: Validators | None) -> Page:
        """One page, asked up to ``max_attempts`` times; raises HttpSourceError once they are used up or
        at once for an answer no retry changes (e.g. 401, 404)."""
        delays = backoff_delays(base=0.5, cap=self.retry_max_s)
        asked = validators.headers() if validators is not None else {}
        for attempt in range(1, self.http.max_attempts + 1):
            await self.rate.turn()
            try:
                response = await self._client.get(self.http.path, params=dict(params), headers=asked)
            except httpx.TimeoutException as error:
                self.count("timeout")
                failure, wait = f"timed out after {self.http.timeout_s} s ({type(error).__name__})", next(delays)
            except httpx.HTTPError as error:
                self.count("error")
                failure, wait = f"request failed: {error!r}", next(delays)
            else:
                self.count(str(response.status_code))
                if response.status_code in (200, 304):
                    return Page(response.status_code, response.content, response.headers, datetime.now(UTC))
                failure = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code not in _RETRIABLE:
                    raise HttpSourceError(failure, retriable=False)
                wait = self.wait_after(response, next(delays))
            if attempt == self.http.max_attempts:
                raise HttpSourceError(f"{failure} (after {attempt} attempts)", retriable=True)
            log.info("http request failed; asking again", source=self.source, error=failure, wait_s=round(wait, 2))
            if await sleep_or_stop(self.stop, wait):
                raise Interrupted  # a long Retry-After must not hold up a shutdown
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    def wait_after(self, response: httpx.Response, backoff: float) -> float:
        """The server's Retry-After (capped) on 429/503, else the backoff."""
        if response.status_code in _ASKS_TO_WAIT:
            asked = retry_after_s(response.headers.get("retry-after"), datetime.now(UTC))
            if asked is not None:
                return min(asked, self.http.retry_after_max_s)
        return backoff

    def count(self, status: str) -> None:
        metrics.HTTP_REQUESTS.labels(source=self.source, status=status).inc()
