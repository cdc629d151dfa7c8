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
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response

CACHE_CONTROL: Final = "private, no-cache"


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


async def conditional(request: Request, etag: str, build: Callable[[], Awaitable[Response]]) -> Response:
    """304 when the client holds ``etag``, else the built response, both with ETag and Cache-Control."""
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    response = await build()
    if response.status_code == 200:
        response.headers.update(headers)
    return response
