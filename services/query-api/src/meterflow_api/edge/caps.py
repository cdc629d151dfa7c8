"""Request size caps: the request target (414), the headers (431) and any body (413, the API is read-only).

Checked from the ASGI scope alone, before routing: an oversized request costs no parsing and no query.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from meterflow_api.edge.rejections import reject


class RequestCapsMiddleware:
    """Pure ASGI: refuses oversized requests with a 4xx that names the cap."""

    def __init__(self, app: ASGIApp, max_url_bytes: int, max_header_bytes: int) -> None:
        self.app = app
        self.max_url_bytes = max_url_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        url_bytes = len(scope.get("raw_path") or scope["path"].encode()) + len(scope["query_string"])
        if url_bytes > self.max_url_bytes:
            detail = f"the URL is {url_bytes} bytes; at most {self.max_url_bytes} (path and query string) are accepted"
            await reject(send, 414, "url_too_long", detail)
            return
        header_bytes = 0
        has_body = False
        for name, value in scope["headers"]:
            header_bytes += len(name) + len(value)
            if (name == b"content-length" and value.strip() not in (b"", b"0")) or name == b"transfer-encoding":
                has_body = True
        if header_bytes > self.max_header_bytes:
            detail = f"the request headers are {header_bytes} bytes; at most {self.max_header_bytes} are accepted"
            await reject(send, 431, "headers_too_large", detail)
            return
        if has_body:
            detail = "request bodies are not accepted: the API is read-only, send parameters in the query string"
            await reject(send, 413, "body_not_accepted", detail)
            return
        await self.app(scope, receive, send)
