"""The API's own /docs page (Swagger UI) in Chromium: it renders offline, Authorize takes a key, and "Try it
out" on GET /v1/meters returns the real meters with the key sent. Needs the API to serve Swagger UI's assets
itself (issue 15, the offline /docs part): while /docs loads them from a CDN the test skips (CI: fails)."""

from __future__ import annotations

import httpx
import pytest
from integration.api.browser.pages import EXPORT_MUID, IMPORT_MUID, OpenPage, Screenshot
from playwright.async_api import expect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def docs_offline(api_url: str) -> None:
    async with httpx.AsyncClient() as client:
        page = (await client.get(f"{api_url}/docs")).text
    if "cdn.jsdelivr.net" in page or "unpkg.com" in page:
        pytest.skip("/docs loads Swagger UI from a CDN, which this machine cannot reach: needs the offline assets")


async def test_docs_render_authorize_and_try_it_out(
    api_url: str, api_key: str, docs_offline: None, open_page: OpenPage, screenshot: Screenshot
) -> None:
    page = await open_page(f"{api_url}/docs")
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Meterflow query API")

    await page.locator(".swagger-ui .auth-wrapper .authorize").click()
    dialog = page.locator(".swagger-ui .dialog-ux .modal-ux")
    await expect(dialog).to_be_visible()
    container = dialog.locator(".auth-container").first
    await container.locator("input").first.fill(api_key)
    await container.locator("button.authorize").click()  # its accessible name is "Apply credentials"
    await expect(container.get_by_role("button", name="Remove authorization")).to_be_visible()
    await dialog.locator("button.btn-done").first.click()

    operation = page.locator(".opblock-get").filter(has=page.locator('[data-path="/v1/meters"]')).first
    await operation.locator(".opblock-summary").click()
    await operation.get_by_role("button", name="Try it out").click()
    async with page.expect_request(lambda r: "/v1/meters" in r.url and "/openapi" not in r.url) as sent:
        await operation.get_by_role("button", name="Execute").click()
    request = await sent.value
    assert api_key in (
        request.headers.get("x-api-key", ""),
        request.headers.get("authorization", "").removeprefix("Bearer "),
    )
    live = operation.locator(".live-responses-table")
    await expect(live.locator("tr.response td.response-col_status")).to_have_text("200")
    await expect(live.locator("tr.response td.response-col_description")).to_contain_text(IMPORT_MUID)
    await expect(live.locator("tr.response td.response-col_description")).to_contain_text(EXPORT_MUID)
    await screenshot(page, "docs-try-it-out")
