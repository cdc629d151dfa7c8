"""The dashboard's static files as the API serves them (the browser tests in browser/ drive the app itself)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

pytestmark = pytest.mark.integration
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="module")
async def api(database: str, client_factory: ClientFactory) -> httpx.AsyncClient:
    client: httpx.AsyncClient = await client_factory(database)
    return client


async def test_dashboard_redirects_to_its_folder_and_serves_the_page(api: httpx.AsyncClient) -> None:
    redirect = await api.get("/dashboard")
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/dashboard/"
    page = await api.get("/dashboard/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text
    # Its own origin only: the browser tests run the whole app under this policy without a violation.
    assert page.headers["content-security-policy"].startswith("default-src 'self';")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/dashboard/js/main.js", "text/javascript"),
        ("/dashboard/js/views/series.js", "text/javascript"),
        ("/dashboard/vendor/uplot/uPlot.esm.js", "text/javascript"),
        ("/dashboard/vendor/uplot/uPlot.min.css", "text/css"),
        ("/dashboard/app.css", "text/css"),
        ("/dashboard/favicon.svg", "image/svg+xml"),
    ],
)
async def test_assets_are_served_from_the_package(api: httpx.AsyncClient, path: str, content_type: str) -> None:
    # Browsers refuse an ES module served with another type than JavaScript.
    answer = await api.get(path)
    assert answer.status_code == 200, path
    assert answer.headers["content-type"].split(";")[0] == content_type


async def test_no_cdn_and_no_openapi_entry(api: httpx.AsyncClient) -> None:
    page = (await api.get("/dashboard/")).text
    assert "http://" not in page and "https://" not in page
    assert not any(p.startswith("/dashboard") for p in (await api.get("/openapi.json")).json()["paths"])
    assert (await api.get("/dashboard/no-such-file.js")).status_code == 404


async def test_files_are_counted_under_the_dashboard_route(api: httpx.AsyncClient) -> None:
    from prometheus_client import REGISTRY

    labels = {"route": "/dashboard", "method": "GET", "status": "200"}
    before = REGISTRY.get_sample_value("meterflow_api_requests_total", labels) or 0.0
    assert (await api.get("/dashboard/app.css")).status_code == 200
    assert REGISTRY.get_sample_value("meterflow_api_requests_total", labels) == before + 1
