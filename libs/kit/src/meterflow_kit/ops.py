"""The operations endpoint of a worker service: /metrics, /healthz and /readyz over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import prometheus_client
from aiohttp import web

ReadyCheck = Callable[[], Awaitable[tuple[bool, str]]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class OpsServer:
    """Serves Prometheus metrics, liveness and readiness on its own port, beside the worker loop."""

    def __init__(
        self, host: str, port: int, ready: ReadyCheck, routes: Sequence[tuple[str, str, Handler]] = ()
    ) -> None:
        """``routes`` adds a service's own operator endpoints, as (method, path, handler)."""
        self._routes = routes
        self._host = host
        self._port = port
        self._ready = ready
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        for method, path, handler in self._routes:
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _metrics(self, _: web.Request) -> web.Response:
        body = prometheus_client.generate_latest()
        return web.Response(body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST})

    async def _healthz(self, _: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _: web.Request) -> web.Response:
        ok, detail = await self._ready()
        return web.json_response({"ready": ok, "detail": detail}, status=200 if ok else 503)
