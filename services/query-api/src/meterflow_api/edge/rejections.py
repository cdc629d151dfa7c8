"""Answers the edge gives before the app runs (413, 414, 429, 431), in the API's error shape, and their count.

They are sent as raw ASGI messages: the middlewares that send them are pure ASGI and never build a Response.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from prometheus_client import Counter
from starlette.types import Send

REJECTIONS = Counter(
    "meterflow_api_rejections_total",
    "Requests refused at the edge before any work, by reason: credential_rate (429, too many requests with "
    "one credential), failed_auth_rate (429, too many 401 answers to one IP), url_too_long (414), "
    "headers_too_large (431), body_not_accepted (413).",
    ["reason"],
)
REASONS = ("credential_rate", "failed_auth_rate", "url_too_long", "headers_too_large", "body_not_accepted")
for _reason in REASONS:  # every series exists from the start, so rate() and alerts see 0 rather than nothing
    REJECTIONS.labels(_reason)


async def reject(
    send: Send, status: int, reason: str, detail: str, extra_headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """Answer ``{"detail": detail}`` with ``status`` and count it under ``reason``."""
    REJECTIONS.labels(reason).inc()
    body = orjson.dumps({"detail": detail})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode("ascii")),
        *extra_headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
