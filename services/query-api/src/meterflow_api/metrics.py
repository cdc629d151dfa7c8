"""Prometheus metrics of the query API (meterflow_api_*) and the ASGI middleware that records them.

Labels use the route template (``/v1/meters/{muid}/series``), never the raw path, so their number stays
bounded however many meters exist; requests that match no route count as ``unmatched``.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "meterflow_api_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
)
REQUEST_SECONDS = Histogram(
    "meterflow_api_request_duration_seconds",
    "Time from request to the end of the response, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
SERIES_SOURCE = Counter(
    "meterflow_api_series_source_total",
    "Series requests by what they were aggregated from: hourly_rollup (readings_hourly) or raw (readings).",
    ["source"],
)
SERIES_FROM_ROLLUP = SERIES_SOURCE.labels("hourly_rollup")
SERIES_FROM_RAW = SERIES_SOURCE.labels("raw")
RESPONSE_CACHE = Counter(
    "meterflow_api_response_cache_total",
    "Answers of the ETag'd routes by where the body came from: hit (the worker's response cache) or miss (built).",
    ["result"],
)
RESPONSE_CACHE_HITS = RESPONSE_CACHE.labels("hit")
RESPONSE_CACHE_MISSES = RESPONSE_CACHE.labels("miss")
RESPONSE_CACHE_BYTES = Gauge(
    "meterflow_api_response_cache_bytes", "Bytes of bodies held by the response cache of this worker."
)
READY = Gauge("meterflow_api_ready", "1 while the last readiness check reached the database.")
DB_ERRORS = Counter(
    "meterflow_api_db_errors_total", "Requests answered 503 because the database failed, by kind.", ["kind"]
)

UNMATCHED = "unmatched"


class MetricsMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it adds microseconds, not a task per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # labels() takes a lock and builds a key on every call; the few label sets a service sees are kept.
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[str, Histogram] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            # The router stores the matched route in the (shared) scope.
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self._counter(route, scope["method"], status).inc()
            self._timer(route).observe(time.perf_counter() - started)

    def _counter(self, route: str, method: str, status: int) -> Counter:
        key = (route, method, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = REQUESTS.labels(route, method, str(status))
        return counter

    def _timer(self, route: str) -> Histogram:
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = REQUEST_SECONDS.labels(route)
        return timer
