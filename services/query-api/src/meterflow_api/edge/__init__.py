"""The API's public surface around the routes: CORS, rate limits, request caps, security headers and the
offline /docs and /redoc pages. ``install(app, settings)`` wires all of it into an app built by create_app.

Middleware order, outermost first (Starlette runs the last added outermost): security headers (so every
answer carries them, refusals included), CORS (preflights are answered before any limit, and browsers can
read a 429), request caps, rate limits, then the app's own middlewares. The OpenAPI document states the 429 and
414 answers of the data operations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from meterflow_api.edge.caps import RequestCapsMiddleware
from meterflow_api.edge.cors import add_cors
from meterflow_api.edge.docs_assets import add_offline_docs
from meterflow_api.edge.headers import SecurityHeadersMiddleware
from meterflow_api.edge.limits import RateLimitMiddleware
from meterflow_api.edge.openapi import document_refusals

if TYPE_CHECKING:
    from meterflow_api.config import Settings

__all__ = ["install"]


def install(app: FastAPI, settings: Settings) -> None:
    add_offline_docs(app)
    document_refusals(app)
    limits = settings.limits
    app.add_middleware(RateLimitMiddleware, settings=limits)
    app.add_middleware(
        RequestCapsMiddleware, max_url_bytes=limits.max_url_bytes, max_header_bytes=limits.max_header_bytes
    )
    add_cors(app, settings.cors)
    app.add_middleware(SecurityHeadersMiddleware)
