"""CORS: Starlette's CORSMiddleware over the allow-list of origins in settings; none by default (then it is not
installed at all and browsers keep other sites' pages from reading the API).

Preflights may ask for the credential headers (Authorization, X-API-Key) and If-None-Match; pages may read
X-Next-Cursor (CSV paging), Retry-After (429, 503) and ETag.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from meterflow_api.edge.config import CORS_EXPOSED_HEADERS, CORS_REQUEST_HEADERS, CorsSettings


def add_cors(app: FastAPI, settings: CorsSettings) -> None:
    if not settings.allow_origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.allow_origins,
        allow_credentials=settings.allow_credentials,
        allow_methods=["GET", "HEAD"],
        allow_headers=list(CORS_REQUEST_HEADERS),
        expose_headers=list(CORS_EXPOSED_HEADERS),
        max_age=settings.max_age_s,
    )
