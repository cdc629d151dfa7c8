"""The Meterflow query API: FastAPI over the readings table.

Run it with ``meterflow-api`` (settings from API_* and DATABASE_URL, see config.py), e.g.
``API_DATABASE_URL=postgresql://meterflow:meterflow@127.0.0.1:5432/meterflow meterflow-api``;
``meterflow-api --port 8080 --workers 2`` overrides API_PORT / API_WORKERS. Docs at /docs, the
OpenAPI document at /openapi.json, Prometheus metrics at /metrics, liveness /healthz, readiness /readyz,
the dashboard at /dashboard/ (dashboard.py).
In code: ``create_app(Settings(...))`` returns the ASGI app; its lifespan opens and closes the pool.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
import prometheus_client
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from meterflow_kit.lifecycle import freeze_startup_objects
from starlette.responses import Response

from meterflow_api import edge, metrics
from meterflow_api.auth import Authenticator
from meterflow_api.caching import ResponseCache
from meterflow_api.config import Settings
from meterflow_api.dashboard import mount_dashboard
from meterflow_api.db import Database
from meterflow_api.errors import ApiError, AuthUnavailable, Forbidden, InvalidRequest, NotAuthenticated, NotFound
from meterflow_api.render import json_response
from meterflow_api.routes import router
from meterflow_api.schemas import Health, Readiness

log = structlog.get_logger("meterflow.api")

DESCRIPTION = """
Smart-meter readings as stored by the Meterflow pipeline: meters and channels, raw interval readings,
calendar-aware aggregated series in any IANA time zone, daily and weekly profiles, summary statistics,
autocorrelation, and the source company's own record format.

Conventions: timestamps are ISO 8601 with offset; `start` is inclusive, `end` exclusive; a date or a
date-time without offset is read in `tz`. `obis` takes hex (`0100011D00FF`), full (`1-0:1.29.0*255`) or
reduced (`1.29.0`) notation. Errors: 401 a missing or refused credential, 403 a credential without the
scope, 422 names each invalid parameter and how to fix it, 404 an unknown meter or channel (another tenant's
meter is unknown too), 503 an unavailable database.

Authentication: every /v1 and /meterdata route needs `Authorization: Bearer <API key or JWT>` or
`X-API-Key: <API key>` (use Authorize above). A credential sees its tenant's meters; admin sees all.
"""

# Failures of the database, not of the request: the client may retry.
_DB_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.QueryCanceledError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
)
_DB_OR_QUERY_ERRORS: tuple[type[Exception], ...] = (*_DB_ERRORS, asyncpg.PostgresError)
READY_TIMEOUT_S = 2.0


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI application. No connection is made here: the lifespan creates the pool."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = await Database.connect(
            str(settings.database_url),
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            acquire_timeout=settings.pool_acquire_timeout_s,
            statement_timeout_ms=round(settings.statement_timeout_s * 1000),
            statement_cache_size=settings.statement_cache_size,
            search_path=settings.search_path,
            channel_cache_s=settings.channel_cache_s,
        )
        app.state.db = db
        app.state.authenticator = Authenticator(settings.auth, db)
        try:
            await db.warm_up()
            if settings.series_from_aggregates:
                async with db.session() as session:
                    await db.uses_hourly_rollup(session)
            log.info("database reachable", hourly_rollup=db.hourly_rollup)
        except _DB_OR_QUERY_ERRORS as error:
            # Serve anyway: /readyz reports 503 until the database answers, requests get 503 meanwhile.
            log.warning("database not reachable at start", error=str(error))
        # Everything loaded so far lives as long as the process: keep the cyclic GC from scanning it on
        # every full collection (a readings page allocates thousands of objects and triggers several).
        freeze_startup_objects()
        try:
            yield
        finally:
            await db.close()

    app = FastAPI(
        title="Meterflow query API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # edge serves /docs and /redoc with their assets (no CDN)
        redoc_url=None,
        # The routes directly, not include_router(): an included router is matched through a layer of
        # per-inclusion contexts on every request, which this app (one router, no prefix) does not need.
        routes=list(router.routes),
        # Operations are observed through Prometheus (/metrics) and structured logs; FastAPI's built-in
        # OpenTelemetry instrumentation would otherwise look for providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        openapi_tags=[
            {"name": "meters", "description": "What is stored."},
            {"name": "readings", "description": "Raw interval readings."},
            {"name": "analytics", "description": "Aggregates computed in the database from the raw readings."},
            {"name": "compatibility", "description": "The source company's API shape."},
            {"name": "operations", "description": "Health, readiness and metrics."},
        ],
    )
    app.state.settings = settings
    app.state.response_cache = ResponseCache(round(settings.response_cache_mb * 1024 * 1024), settings.response_cache_s)
    app.add_middleware(metrics.MetricsMiddleware)
    edge.install(app, settings)
    _add_operations(app)
    _add_error_handlers(app)
    mount_dashboard(app)
    return app


def _add_operations(app: FastAPI) -> None:
    @app.get("/healthz", response_model=Health, tags=["operations"], summary="Liveness: the process serves")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get(
        "/readyz",
        response_model=Readiness,
        tags=["operations"],
        summary="Readiness: the database answers (503 otherwise)",
        responses={503: {"model": Readiness, "description": "The database did not answer."}},
    )
    async def readyz(request: Request) -> Response:
        db: Database = request.app.state.db
        try:
            await db.ping(READY_TIMEOUT_S)
        except _DB_OR_QUERY_ERRORS as error:
            metrics.READY.set(0)
            return json_response({"ready": False, "detail": f"database unreachable: {error}"}, status_code=503)
        metrics.READY.set(1)
        return json_response({"ready": True, "detail": "database reachable"})

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {prometheus_client.CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    async def metrics_endpoint() -> Response:
        return Response(prometheus_client.generate_latest(), media_type=prometheus_client.CONTENT_TYPE_LATEST)


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, error: Exception) -> Response:
        if isinstance(error, NotAuthenticated | Forbidden):
            return json_response(
                {"detail": str(error)}, status_code=_status_of(error), headers={"WWW-Authenticate": _challenge(error)}
            )
        if isinstance(error, AuthUnavailable):
            return json_response({"detail": str(error)}, status_code=503, headers={"Retry-After": "5"})
        if isinstance(error, InvalidRequest):
            detail = [{"loc": list(p.loc), "msg": p.msg, "type": "value_error"} for p in error.problems]
            return json_response({"detail": detail}, status_code=_status_of(error))
        return json_response({"detail": str(error)}, status_code=_status_of(error))

    async def database_error(request: Request, error: Exception) -> Response:
        kind = "timeout" if isinstance(error, asyncpg.QueryCanceledError | TimeoutError) else "unavailable"
        metrics.DB_ERRORS.labels(kind).inc()
        log.warning("database error", path=request.url.path, kind=kind, error=repr(error))
        message = (
            "the query took too long: narrow start/end or use a coarser interval"
            if kind == "timeout"
            else "the database is unavailable; retry shortly"
        )
        return json_response({"detail": message}, status_code=503, headers={"Retry-After": "1"})

    async def parameter_rejected(request: Request, error: Exception) -> Response:
        # PostgreSQL refused a bound value; the only one we cannot fully check up front is the time zone
        # (its tz database may differ from Python's).
        message = str(error)
        if "time zone" in message:
            msg = f"{message}: use an IANA name such as UTC"
            detail = [{"loc": ["query", "tz"], "msg": msg, "type": "value_error"}]
            return json_response({"detail": detail}, status_code=422)
        log.error("query rejected", path=request.url.path, error=message)
        return json_response({"detail": "internal error"}, status_code=500)

    async def request_invalid(_: Request, error: Exception) -> Response:
        # FastAPI's own checks (limit=abc, format=xml): same shape as ours, without echoing the input back.
        errors = error.errors() if isinstance(error, RequestValidationError) else []
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
        return json_response({"detail": detail}, status_code=422)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    for error_type in _DB_ERRORS:
        app.add_exception_handler(error_type, database_error)
    app.add_exception_handler(asyncpg.InvalidParameterValueError, parameter_rejected)


# The HTTP status of each API error (errors.py keeps HTTP out of the domain); the first match wins.
_STATUS_OF_ERROR: tuple[tuple[type[ApiError], int], ...] = (
    (InvalidRequest, 422),
    (NotFound, 404),
    (NotAuthenticated, 401),
    (Forbidden, 403),
)
REALM = "meterflow"


def _challenge(error: NotAuthenticated | Forbidden) -> str:
    """WWW-Authenticate of a 401 or 403 (RFC 6750): the error code only when a credential was sent."""
    if isinstance(error, Forbidden):
        return f'Bearer realm="{REALM}", error="insufficient_scope", scope="{error.scope}"'
    if error.credential_sent:
        return f'Bearer realm="{REALM}", error="invalid_token"'
    return f'Bearer realm="{REALM}"'


def _status_of(error: Exception) -> int:
    return next((status for kind, status in _STATUS_OF_ERROR if isinstance(error, kind)), 400)


def app_from_env() -> FastAPI:
    """uvicorn factory for worker processes: ``uvicorn --factory meterflow_api.main:app_from_env``."""
    settings = Settings()
    _configure_logging(settings)
    return create_app(settings)


def _configure_logging(settings: Settings) -> None:
    from meterflow_kit.logs import configure_logging

    configure_logging("api", settings.log_level)


def cli(argv: Sequence[str] | None = None) -> None:
    """Console entry point ``meterflow-api``: serve the API with uvicorn."""
    parser = argparse.ArgumentParser(prog="meterflow-api", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", help="default: $API_HOST or 127.0.0.1")
    parser.add_argument("--port", type=int, help="default: $API_PORT or 8000")
    parser.add_argument("--workers", type=int, help="default: $API_WORKERS or 1")
    args = parser.parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if v is not None}
    settings = Settings(**overrides)
    _configure_logging(settings)
    log.info("starting", host=settings.host, port=settings.port, workers=settings.workers)
    if settings.workers > 1:
        # Each worker process builds its own app (and pool) from the environment.
        for key, value in overrides.items():
            os.environ[f"API_{key.upper()}"] = str(value)
        uvicorn.run(
            "meterflow_api.main:app_from_env",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=settings.access_log,
            server_header=False,
        )
    else:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=settings.access_log,
            server_header=False,
        )
