"""The dashboard: a single-page app of plain ES modules (``dashboard_static/``) served at ``/dashboard/``.

No build step and no Node.js at run time: the browser loads the modules as they are, and the charting library
(uPlot) is vendored from its npm package into ``dashboard_static/vendor/`` by
``services/query-api/scripts/vendor-uplot.sh``. The app calls the API's own /v1 routes from the browser with
the signed-in key in ``X-API-Key``; nothing here reads the database.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.responses import RedirectResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

# Browsers load ES modules only with a JavaScript type; Python's table depends on the host's /etc/mime.types
# (absent in slim images), so say it once.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/css", ".css")
mimetypes.add_type("image/svg+xml", ".svg")

STATIC_DIR = Path(__file__).with_name("dashboard_static")
PATH = "/dashboard"


# The app needs nothing but its own origin: no inline script or style, no CDN, the API on the same origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class _DashboardFiles(StaticFiles):
    """The static files under a content security policy of their own origin, each request tagged with its mount
    as the route: a mount sets none in the scope, and the metrics middleware would count them as ``unmatched``."""

    mount: Mount | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.mount

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            await send(message)

        await super().__call__(scope, receive, send_with_policy)


def mount_dashboard(app: FastAPI) -> None:
    """Serve the app at ``/dashboard/`` (``/dashboard`` redirects there, so relative module URLs resolve)."""

    @app.get(PATH, include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse(f"{PATH}/", status_code=308)

    files = _DashboardFiles(directory=STATIC_DIR, html=True)
    files.mount = Mount(PATH, app=files, name="dashboard")
    app.router.routes.append(files.mount)
