"""Security headers on every response, and the caching rules of the data responses.

Every response: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY`` with CSP
``frame-ancestors 'none'`` (no page may frame ours), ``Referrer-Policy: no-referrer``. Data responses (``/v1/``
and the source-format ``/meterdata/``) vary by credential (``Vary: Authorization, X-API-Key``) and are
``Cache-Control: no-store`` unless the route set its own Cache-Control (e.g. ``private, no-cache`` with an ETag).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DATA_PREFIXES = ("/v1/", "/meterdata/")
ALWAYS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE = (b"cache-control", b"no-store")
VARY_BY_CREDENTIAL = b"Authorization, X-API-Key"
INTERNAL_ERROR_BODY = b'{"detail":"internal error"}'
INTERNAL_ERROR = [(b"content-type", b"application/json"), (b"content-length", str(len(INTERNAL_ERROR_BODY)).encode())]


class SecurityHeadersMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it only extends the header list of the response start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        data = scope["path"].startswith(DATA_PREFIXES)
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = with_security_headers(list(message.get("headers", ())), data)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Starlette's ServerErrorMiddleware, outside every user middleware, would answer this 500 without
            # our headers: answer it here, then let the error go on to be logged (it sends nothing more).
            if not started:
                await send_with_headers({"type": "http.response.start", "status": 500, "headers": INTERNAL_ERROR})
                await send_with_headers({"type": "http.response.body", "body": INTERNAL_ERROR_BODY})
            raise


def with_security_headers(headers: list[tuple[bytes, bytes]], data: bool) -> list[tuple[bytes, bytes]]:
    """The response headers plus ours; for data responses no-store (unless cached on purpose) and Vary merged."""
    headers.extend(ALWAYS)
    if not data:
        return headers
    vary_at = None
    has_cache_control = False
    for index, (name, _) in enumerate(headers):
        lowered = name.lower()
        if lowered == b"cache-control":
            has_cache_control = True
        elif lowered == b"vary":
            vary_at = index
    if not has_cache_control:
        headers.append(NO_STORE)
    if vary_at is None:
        headers.append((b"vary", VARY_BY_CREDENTIAL))
    else:
        name, value = headers[vary_at]
        headers[vary_at] = (name, value + b", " + VARY_BY_CREDENTIAL)
    return headers
