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
from starlette.responses import RedirectResponse
from starlette.staticfiles import StaticFiles

# Browsers load ES modules only with a JavaScript type; Python's table depends on the host's /etc/mime.types
# (absent in slim images), so say it once.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/css", ".css")
mimetypes.add_type("image/svg+xml", ".svg")

STATIC_DIR = Path(__file__).with_name("dashboard_static")
PATH = "/dashboard"


def mount_dashboard(app: FastAPI) -> None:
    """Serve the app at ``/dashboard/`` (``/dashboard`` redirects there, so relative module URLs resolve)."""

    @app.get(PATH, include_in_schema=False)
    async def dashboard_root() -> RedirectResponse:
        return RedirectResponse(f"{PATH}/", status_code=308)

    app.mount(PATH, StaticFiles(directory=STATIC_DIR, html=True), name="dashboard")
