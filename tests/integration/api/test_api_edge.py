"""The API's public surface on the real app and database: security headers on every answer, CORS preflights
and simple requests, the per-credential rate limit (429, Retry-After, recovery), request size caps (413, 414,
431), and the offline /docs and /redoc pages whose every asset the API serves itself."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from meterflow_api.edge.config import CorsSettings, LimitsSettings
from meterflow_harness.api_keys import admin_key, auth_headers

pytestmark = pytest.mark.integration

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]
MUID = uuid.UUID("5f1d5a7e-0c49-4d4e-9a38-3c2f9d0e1b11")
START = datetime(2023, 2, 1, tzinfo=UTC)
# Two days four days apart: 8 readings on 1 February, 4 on 5 February.
ROWS = [
    (MUID, "1-0:1.29.0*255", START + day + i * timedelta(minutes=15), 0.5, "measured")
    for day, count in ((timedelta(0), 8), (timedelta(days=4), 4))
    for i in range(count)
]
PORTAL = "https://portal.example.com"
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


@pytest.fixture(scope="module")
async def loaded(database: str, insert_rows: Inserter) -> str:
    await insert_rows(database, ROWS)
    return database


@pytest.fixture(scope="module")
async def api(loaded: str, client_factory: ClientFactory) -> httpx.AsyncClient:
    return await client_factory(loaded)


@pytest.fixture(scope="module")
async def cors_api(loaded: str, client_factory: ClientFactory) -> httpx.AsyncClient:
    return await client_factory(loaded, cors=CorsSettings(allow_origins=[PORTAL]))


def vary_of(response: httpx.Response) -> set[str]:
    return {part.strip().lower() for value in response.headers.get_list("vary") for part in value.split(",")}


@pytest.mark.parametrize(
    "path",
    ["/healthz", "/metrics", "/openapi.json", "/docs", "/redoc", "/v1/meters", f"/v1/meters/{MUID}/readings",
     "/v1/meters/not-a-uuid/readings", f"/v1/meters/{uuid.uuid4()}/readings", "/no/such/path"],
)  # fmt: skip
async def test_every_response_carries_the_security_headers(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    assert response.status_code in (200, 404, 422), response.text
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get_list(name) == [value], name


@pytest.mark.parametrize(
    "path",
    ["/v1/meters", f"/v1/meters/{MUID}/readings", f"/v1/meters/{MUID}/readings?format=csv",
     f"/v1/meters/{uuid.uuid4()}/readings", f"/meterdata/measurement?muid={MUID}"],
)  # fmt: skip
async def test_data_responses_are_not_stored_and_vary_by_credential(api: httpx.AsyncClient, path: str) -> None:
    response = await api.get(path)
    assert response.headers.get_list("cache-control") == ["no-store"]
    assert {"authorization", "x-api-key"} <= vary_of(response)


async def test_pages_and_probes_keep_their_caching(api: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/docs", "/openapi.json"):
        response = await api.get(path)
        assert "no-store" not in response.headers.get("cache-control", ""), path
        assert "authorization" not in vary_of(response), path


async def test_cors_is_off_by_default(api: httpx.AsyncClient) -> None:
    preflight = await api.options("/v1/meters", headers={"Origin": PORTAL, "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in preflight.headers
    simple = await api.get("/v1/meters", headers={"Origin": PORTAL})
    assert simple.status_code == 200 and "access-control-allow-origin" not in simple.headers


async def test_cors_preflight_of_a_listed_origin_allows_the_credential_headers(cors_api: httpx.AsyncClient) -> None:
    preflight = await cors_api.options(
        f"/v1/meters/{MUID}/readings",
        headers={
            "Origin": PORTAL,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, x-api-key",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PORTAL
    assert preflight.headers["access-control-allow-credentials"] == "true"
    allowed = {h.strip().lower() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-api-key"} <= allowed
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-max-age"] == "600"
    assert preflight.headers["x-frame-options"] == "DENY"


async def test_cors_preflight_of_another_origin_is_refused(cors_api: httpx.AsyncClient) -> None:
    preflight = await cors_api.options(
        "/v1/meters", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    simple = await cors_api.get("/v1/meters", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def test_cors_simple_request_exposes_paging_and_retry_headers(cors_api: httpx.AsyncClient) -> None:
    response = await cors_api.get(
        f"/v1/meters/{MUID}/readings", params={"limit": 2, "format": "csv"}, headers={"Origin": PORTAL}
    )
    assert response.status_code == 200 and response.headers["x-next-cursor"]
    assert response.headers["access-control-allow-origin"] == PORTAL
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-next-cursor", "retry-after", "etag"} <= exposed
    assert {"origin", "authorization", "x-api-key"} <= vary_of(response)


async def test_rate_limit_per_credential_answers_429_and_recovers(loaded: str, client_factory: ClientFactory) -> None:
    api = await client_factory(
        loaded, anonymous=True, limits=LimitsSettings(per_credential="3/5 seconds", failed_auth_per_ip=None)
    )
    key = {"X-API-Key": await admin_key(loaded)}
    statuses = [(await api.get("/v1/meters", headers=key)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await api.get("/v1/meters", headers=key)
    assert refused.status_code == 429
    assert "3 per 5 second" in refused.json()["detail"]
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 5
    assert refused.headers["x-frame-options"] == "DENY"
    # Another credential, a request without one (401, not 429) and the probes are not held back by this count.
    assert (await api.get("/v1/meters", headers=auth_headers(await admin_key(loaded)))).status_code == 200
    assert (await api.get("/v1/meters")).status_code == 401
    assert (await api.get("/healthz", headers=key)).status_code == 200
    metrics = (await api.get("/metrics")).text
    assert re.search(r'meterflow_api_rejections_total\{reason="credential_rate"\} [1-9]', metrics)
    await asyncio.sleep(wait)
    assert (await api.get("/v1/meters", headers=key)).status_code == 200


async def test_a_long_url_is_refused_with_414_naming_the_cap(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/meters", params={"cursor": "A" * 5000})
    assert response.status_code == 414
    assert "at most 4096" in response.json()["detail"]
    assert response.headers["x-content-type-options"] == "nosniff"
    metrics = (await api.get("/metrics")).text
    assert re.search(r'meterflow_api_rejections_total\{reason="url_too_long"\} [1-9]', metrics)
    assert 'meterflow_api_rejections_total{reason="body_not_accepted"}' in metrics  # every reason from the start


async def test_large_headers_are_refused_with_431_naming_the_cap(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/meters", headers={"X-Padding": "p" * 20_000})
    assert response.status_code == 431
    assert "at most 16384" in response.json()["detail"]


async def test_a_request_body_is_refused_with_413(api: httpx.AsyncClient) -> None:
    for method in ("GET", "POST"):
        response = await api.request(method, "/v1/meters", content=b'{"limit": 5}')
        assert response.status_code == 413, method
        assert "read-only" in response.json()["detail"]


async def test_caps_are_settings(loaded: str, client_factory: ClientFactory) -> None:
    api = await client_factory(loaded, limits=LimitsSettings(max_url_bytes=300, max_header_bytes=2000))
    assert (await api.get("/v1/meters", params={"cursor": "A" * 300})).status_code == 414
    assert (await api.get("/v1/meters", headers={"X-Padding": "p" * 2000})).status_code == 431
    assert (await api.get("/v1/meters", params={"limit": 5})).status_code == 200


async def test_measurement_range_is_capped_and_an_omitted_start_stays_within_it(
    loaded: str, api: httpx.AsyncClient, client_factory: ClientFactory
) -> None:
    everything = await api.get("/meterdata/measurement", params={"muid": str(MUID)})
    assert len(everything.json()["data"]) == 12
    capped = await client_factory(loaded, limits=LimitsSettings(max_measurement_days=1))
    recent = await capped.get("/meterdata/measurement", params={"muid": str(MUID)})
    assert [r["timestamp"][:10] for r in recent.json()["data"]] == ["2023-02-05"] * 4
    too_long = await capped.get(
        "/meterdata/measurement", params={"muid": str(MUID), "start": "2023-02-01", "stop": "2023-02-06"}
    )
    assert too_long.status_code == 422
    (problem,) = too_long.json()["detail"]
    assert problem["loc"] == ["query", "stop"] and "at most 1 days" in problem["msg"]
    one_day = await capped.get(
        "/meterdata/measurement", params={"muid": str(MUID), "start": "2023-02-01", "stop": "2023-02-02"}
    )
    assert len(one_day.json()["data"]) == 8


async def test_the_openapi_document_states_the_refusals_of_data_operations(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert "ErrorResponse" in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            refusals = {"429", "414"} & set(operation["responses"])
            assert refusals == ({"429", "414"} if path.startswith(("/v1/", "/meterdata/")) else set()), path
    readings = spec["paths"]["/v1/meters/{muid}/readings"]["get"]["responses"]["429"]
    assert "Retry-After" in readings["headers"]


def referenced_urls(html: str) -> list[str]:
    """Every src/href of the page, the spec URL Swagger UI or ReDoc loads, and CSS url(...) values."""
    found = re.findall(r'(?:src|href|spec-url)="([^"]+)"', html)
    found += re.findall(r"url: '([^']+)'", html)
    return found


async def test_docs_and_redoc_load_every_asset_from_the_api_itself(api: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await api.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        html = response.text
        assert "cdn" not in html.lower() and "googleapis" not in html
        urls = referenced_urls(html)
        assert any(u.endswith(".js") for u in urls) and any("openapi.json" in u for u in urls), urls
        for url in urls:
            parts = urlsplit(url)
            assert not parts.scheme and not parts.netloc, f"{page} points off-host: {url}"
            asset = await api.get(urljoin(page, url))
            assert asset.status_code == 200, url
            assert len(asset.content) > 0, url
            if url.endswith(".css"):
                assert not re.search(r"url\(\s*['\"]?(https?:)?//", asset.text), f"{url} loads from another host"


async def test_swagger_ui_keeps_the_authorization_and_skips_the_online_validator(api: httpx.AsyncClient) -> None:
    html = (await api.get("/docs")).text
    assert '"persistAuthorization": true' in html
    assert '"validatorUrl": null' in html
    assert (await api.get("/docs/oauth2-redirect")).status_code == 200
    script = await api.get("/docs/assets/swagger-ui-bundle.js")
    assert "SwaggerUIBundle" in script.text
    assert "Redoc" in (await api.get("/docs/assets/redoc.standalone.js")).text
