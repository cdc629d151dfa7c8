"""Rate limits: requests per credential, and per client IP for failed authentication (answers 401).

The counting is the ``limits`` package's (fixed windows in its async storage: in memory per worker process by
default, or shared through Redis by a storage URI). A credential is counted under the SHA-256 of the presented
Authorization / X-API-Key value, never the value itself. An IP that collected too many 401 answers gets 429
before any work (no key lookup, no query) until its window ends; the operations endpoints are never limited.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import RateLimitItem
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from meterflow_api.edge.config import LimitsSettings
from meterflow_api.edge.rejections import reject

# Probes and scrapes: never limited (they carry no credential and must keep working under attack).
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
CREDENTIAL_HEADERS = (b"authorization", b"x-api-key")


def credential_key(scope: Scope) -> str | None:
    """SHA-256 (hex) of the credential the request presents (Authorization and X-API-Key), None without one."""
    found = [value for name, value in scope["headers"] if name in CREDENTIAL_HEADERS]
    return hashlib.sha256(b"\n".join(found)).hexdigest() if found else None


def client_ip(scope: Scope) -> str:
    """The peer address (uvicorn puts the X-Forwarded-For client there for trusted proxies)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class RateLimiter:
    """The two limits over one limits storage; each check names the first exhausted rate and its wait."""

    def __init__(self, settings: LimitsSettings) -> None:
        self._limiter = FixedWindowRateLimiter(storage_from_string(settings.storage_uri))
        self.credential_rates = settings.credential_rates
        self.failed_auth_rates = settings.failed_auth_rates

    async def take_credential(self, key: str) -> tuple[RateLimitItem, int] | None:
        """Counts one request of the credential; the exhausted rate and seconds to wait, or None to go on."""
        for rate in self.credential_rates:
            if not await self._limiter.hit(rate, "credential", key):
                return rate, await self._retry_after(rate, "credential", key)
        return None

    async def failed_auth_block(self, ip: str) -> tuple[RateLimitItem, int] | None:
        """The exhausted failed-auth rate of the IP and seconds to wait, or None when it may try again."""
        for rate in self.failed_auth_rates:
            if not await self._limiter.test(rate, "failed_auth", ip):
                return rate, await self._retry_after(rate, "failed_auth", ip)
        return None

    async def count_failed_auth(self, ip: str) -> None:
        for rate in self.failed_auth_rates:
            await self._limiter.hit(rate, "failed_auth", ip)

    async def _retry_after(self, rate: RateLimitItem, *identifiers: str) -> int:
        reset_at, _ = await self._limiter.get_window_stats(rate, *identifiers)
        return max(1, math.ceil(reset_at - time.time()))


class RateLimitMiddleware:
    """Pure ASGI: 429 with Retry-After when a limit is exhausted; counts the app's 401 answers per IP."""

    def __init__(self, app: ASGIApp, settings: LimitsSettings) -> None:
        self.app = app
        self.limiter = RateLimiter(settings)
        self.watch_failures = bool(self.limiter.failed_auth_rates)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        ip = client_ip(scope)
        if self.watch_failures and (blocked := await self.limiter.failed_auth_block(ip)) is not None:
            rate, wait = blocked
            detail = f"too many failed authentications from this address (limit {rate}); retry in {wait} s"
            await reject(send, 429, "failed_auth_rate", detail, [(b"retry-after", str(wait).encode())])
            return
        key = credential_key(scope)
        if key is not None and (exhausted := await self.limiter.take_credential(key)) is not None:
            rate, wait = exhausted
            detail = f"rate limit of this credential exceeded ({rate}); retry in {wait} s"
            await reject(send, 429, "credential_rate", detail, [(b"retry-after", str(wait).encode())])
            return
        if not self.watch_failures:
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self._counting_401(send, ip))

    def _counting_401(self, send: Send, ip: str) -> Send:
        async def send_counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await self.limiter.count_failed_auth(ip)
            await send(message)

        return send_counting
