"""HTTP caching of the data routes: an ETag from the channels' last write and the request, 304 on a match.

A response for a period is the same until the writer stores new readings of the meter (or fleet) asked
about, and every write updates the channels rows it touches (count of readings, updated_at) in the same
transaction. The ETag hashes those figures with the request's path and query, so it changes exactly when
the answer may. ``Cache-Control: private, no-cache``: a client (never a shared cache: the answers depend
on the caller's key) keeps the body and asks again with If-None-Match; the 304 skips the aggregates. The
version is read before the answer is computed, so data arriving meanwhile can only make the stored ETag
older than the body, never newer: the next request then fetches again. (insights_db.meter_version takes a
meter's version from the channel cache when it holds the meter: a write shows at most API_CHANNEL_CACHE_S
late.)

The same ETag keys a server-side cache of the bodies (:class:`ResponseCache`, API_RESPONSE_CACHE_MB per
worker): a second client asking what another asked a moment ago (a household's dashboard reloaded, an
analyst's notebook run again) gets the stored body without the aggregates. It is exactly as fresh as a
304: the key changes when the meter's data does. Entries are kept per tenant too, so an answer is only
ever served to the tenant (or admin) whose request built it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, cast

from cachetools import TTLCache
from starlette.requests import Request
from starlette.responses import Response

from meterflow_api import metrics

CACHE_CONTROL: Final = "private, no-cache"
# Headers a stored response gets again from Response itself (its length and media type).
_REBUILT_HEADERS: Final = frozenset({"content-length", "content-type"})
# No single answer may take more than this share of the cache: one huge CSV must not flush the rest.
_LARGEST_SHARE: Final = 8


@dataclass(frozen=True, slots=True)
class _Stored:
    body: bytes
    media_type: str | None
    headers: dict[str, str]

    def response(self) -> Response:
        return Response(self.body, media_type=self.media_type, headers=self.headers)


def _stored_size(stored: _Stored) -> int:
    return len(stored.body) + 200  # the entry's own objects, roughly


class ResponseCache:
    """The bodies of recent 200 answers of the ETag'd routes, by tenant and ETag, at most ``max_bytes``
    of them in one worker (least recently used go first), each for at most ``ttl_s``; ``max_bytes`` 0 turns
    it off. The ETag changes with every write of the writer; ``ttl_s`` bounds how long a change made
    around it (SQL run by hand on the readings) can go unseen."""

    def __init__(self, max_bytes: int, ttl_s: float = 60.0) -> None:
        self.max_bytes = max_bytes
        self._entries: TTLCache[tuple[str | None, str], _Stored] = TTLCache(
            maxsize=max(1, max_bytes), ttl=ttl_s, getsizeof=_stored_size
        )

    def get(self, tenant: str | None, etag: str) -> Response | None:
        if self.max_bytes <= 0:
            return None
        stored = self._entries.get((tenant, etag))
        if stored is None:
            metrics.RESPONSE_CACHE_MISSES.inc()
            return None
        metrics.RESPONSE_CACHE_HITS.inc()
        return stored.response()

    def put(self, tenant: str | None, etag: str, response: Response) -> None:
        body = bytes(response.body)
        if self.max_bytes <= 0 or len(body) > self.max_bytes // _LARGEST_SHARE:
            return
        headers = {k: v for k, v in response.headers.items() if k not in _REBUILT_HEADERS}
        self._entries[(tenant, etag)] = _Stored(body, response.media_type, headers)
        metrics.RESPONSE_CACHE_BYTES.set(self._entries.currsize)


def response_cache(request: Request) -> ResponseCache:
    return cast(ResponseCache, request.app.state.response_cache)


def etag_of(request: Request, version: Sequence[Any]) -> str:
    """A weak ETag of the request (path and query, parameters sorted) and the data version."""
    query = "&".join(sorted(f"{k}={v}" for k, v in request.query_params.multi_items()))
    text = f"{request.url.path}?{query}|{'|'.join(map(str, version))}"
    return f'W/"{hashlib.sha256(text.encode()).hexdigest()[:32]}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names ``etag`` (weak comparison, as RFC 9110 prescribes for it) or is *."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


async def conditional(
    request: Request, etag: str, build: Callable[[], Awaitable[Response]], *, tenant: str | None
) -> Response:
    """304 when the client holds ``etag``; else the body stored for ``tenant`` under ``etag``, or the built
    response (stored when it is a 200); every one with ETag and Cache-Control. ``tenant`` is the caller's
    (None: admin), whose access to the data the caller checked before computing the ETag."""
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    cache = response_cache(request)
    response = cache.get(tenant, etag)
    if response is None:
        response = await build()
        if response.status_code != 200:
            return response
        response.headers.update(headers)
        cache.put(tenant, etag, response)
    return response
