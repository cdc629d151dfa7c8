"""The dashboard's site, balance, cost and insight views in Chromium, on the real February files and a site of
both meters owned by a household tenant (``tenant_key``): every figure on screen equals the API's JSON fetched
here with the same key, the pickers and switches work, every new view downloads what it shows as CSV, an
unknown site is a 404 state, and the views are readable at 1080p and 375 px in both themes."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from integration.api.browser.pages import (
    DESKTOP,
    EXPORT_MUID,
    IMPORT_MUID,
    PHONE,
    SITE,
    TENANT,
    OpenPage,
    PageErrors,
    Screenshot,
    dashboard_ready,
)
from meterflow_cli.sites_cmd import ChannelSpec, create_site
from meterflow_harness.api_keys import assign_meters
from playwright.async_api import Page, expect

pytestmark = pytest.mark.integration
FEBRUARY = {"start": "2023-02-01T00:00", "end": "2023-03-01T00:00", "tz": "UTC"}
SITE_MONTH = f"site={SITE}&r=month&s=2023-02-01&tz=UTC"
PV_SITE = "pv-home"
# A synthetic PV production meter: twice what the real export meter sent to the grid, quarter hour by quarter hour.
PRODUCTION_MUID = "c0570000-0000-4000-8000-000000000003"
NEIGHBOUR_MUID = "c0570000-0000-4000-8000-000000000004"  # another tenant's meter (no readings), in its own site


@pytest.fixture(scope="module")
async def pv_site(
    database: str,
    tenant_key: str,
    source_rows: Callable[[str], list[Any]],
    insert_rows: Callable[[str, list[Any]], Awaitable[None]],
) -> str:
    """PV_SITE of the household: the real import and export meters and the synthetic production meter; and a site
    of another tenant, which the household's key must not see."""
    production = uuid.UUID(PRODUCTION_MUID)
    await insert_rows(
        database, [(production, obis, ts, value * 2, q) for _, obis, ts, value, q in source_rows(EXPORT_MUID)]
    )
    await assign_meters(database, TENANT, [PRODUCTION_MUID])
    await create_site(
        database,
        PV_SITE,
        TENANT,
        [
            ChannelSpec("import", "", uuid.UUID(IMPORT_MUID), None),
            ChannelSpec("export", "", uuid.UUID(EXPORT_MUID), None),
            ChannelSpec("production", "", production, None),
        ],
    )
    await assign_meters(database, "neighbour", [NEIGHBOUR_MUID])
    await create_site(database, "next-door", "neighbour", [ChannelSpec("import", "", uuid.UUID(NEIGHBOUR_MUID), None)])
    return PV_SITE


def dashboard(api_url: str, key: str, fragment: str) -> str:
    return f"{api_url}/dashboard/#key={key}&{fragment}"


async def api_json(api_url: str, key: str, path: str, **params: Any) -> Any:
    async with httpx.AsyncClient(base_url=api_url, headers={"X-API-Key": key}) as client:
        answer = await client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def cents(value: float, currency: str = "CHF") -> str:
    return f"{currency} {value:,.2f}" if value >= 0 else f"-{currency} {-value:,.2f}"


async def value_of(page: Page, selector: str) -> float:
    return float(await page.locator(selector).get_attribute("data-value") or "nan")


async def downloaded(page: Page, button: str) -> tuple[str, list[list[str]]]:
    async with page.expect_download() as info:
        await page.get_by_role("button", name=button).click()
    download = await info.value
    path = await download.path()
    return download.suggested_filename, list(csv.reader(io.StringIO(path.read_text())))


async def test_site_shows_balance_cost_and_insights_as_the_api_computes_them(
    api_url: str, tenant_key: str, open_page: OpenPage, screenshot: Screenshot
) -> None:
    balance = await api_json(api_url, tenant_key, f"/v1/sites/{SITE}/balance", interval="1d", **FEBRUARY)
    cost = await api_json(api_url, tenant_key, f"/v1/sites/{SITE}/cost", tariff="ch-ht-nt", **FEBRUARY)
    shifted = await api_json(
        api_url, tenant_key, f"/v1/meters/{IMPORT_MUID}/cost", tariff="ch-ht-nt", shift="0.2", **FEBRUARY
    )
    page = await open_page(dashboard(api_url, tenant_key, SITE_MONTH))
    await dashboard_ready(page)
    # The site's meters are the ones drawn: import and export together.
    assert f"m={IMPORT_MUID}%2C{EXPORT_MUID}" in page.url or f"m={IMPORT_MUID},{EXPORT_MUID}" in page.url
    await expect(page.locator("#series-chart")).to_have_attribute("data-series", "2")
    await expect(page.get_by_role("radio", name=SITE)).to_be_checked()

    view = page.locator("#view-balance")
    await expect(view).to_be_visible()
    await expect(view.get_by_role("heading", name=f"Balance of {SITE}")).to_be_visible()
    totals = balance["totals"]
    assert totals["import_kwh"] == pytest.approx(97.6082) and totals["export_kwh"] == pytest.approx(36.19725)
    await expect(view.locator('[data-field="import_kwh"]')).to_have_text("97.61 kWh")
    await expect(view.locator('[data-field="export_kwh"]')).to_have_text("36.20 kWh")
    await expect(view.locator('[data-field="net_kwh"]')).to_have_text(f"{totals['net_kwh']:.2f} kWh")
    for field in ("import_kwh", "export_kwh", "net_kwh"):
        assert await value_of(page, f'#balance-body [data-field="{field}"]') == totals[field]
    # No production channel: the figures it would need are named with the API's reasons, not shown.
    assert set(balance["unavailable"]) == {
        "production_kwh",
        "self_consumption_kwh",
        "self_consumption_rate",
        "self_sufficiency",
    }
    await expect(view.locator('[data-field="self_sufficiency"]')).to_have_count(0)
    for figure, reason in balance["unavailable"].items():
        await expect(view.locator(f'.unavailable li[data-figure="{figure}"]')).to_contain_text(reason)
    await expect(page.locator("#balance-chart")).to_have_attribute("data-points", "28")
    # Screen readers: the chart is an image named by its summary; the controls and downloads have names.
    summary = "Bar chart of the site's daily import and export, 28 days"
    await expect(page.get_by_role("img", name=summary)).to_have_attribute(
        "aria-label", f"{summary}; import 97.61 kWh, export 36.20 kWh, net {totals['net_kwh']:.2f} kWh"
    )
    await expect(page.get_by_role("combobox", name="Tariff")).to_have_value("ch-ht-nt")
    await expect(page.get_by_role("slider", name="Share of high-band use moved to the low band")).to_have_value("20")
    await expect(page.get_by_role("article", name="Solar window")).to_have_count(1)

    # Cost of the site under ch-ht-nt: the import's bands; no feed-in price, so the export earns nothing.
    costs = page.locator("#view-cost")
    assert await value_of(page, '#cost-body [data-field="total"]') == cost["total_cost"]
    await expect(costs.locator('[data-field="total"]')).to_have_text(cents(cost["total_cost"]))
    assert cost["total_cost"] == pytest.approx(25.0714, abs=1e-4)
    for band in cost["import"]["bands"]:
        row = costs.locator(f'tr[data-band="{band["name"]}"]')
        assert float(await row.locator('[data-field="kwh"]').get_attribute("data-value") or "nan") == band["kwh"]
        assert float(await row.locator('[data-field="cost"]').get_attribute("data-value") or "nan") == band["cost"]
        await expect(row.locator('[data-field="price"]')).to_have_text(f"{band['price']:.2f} CHF/kWh")
    assert {b["name"]: b["kwh"] for b in cost["import"]["bands"]} == pytest.approx({"high": 35.9763, "low": 61.6319})
    await expect(costs.locator('[data-field="sentence"]')).to_contain_text("imported 97.61 kWh for CHF 25.07")
    await expect(costs.locator('[data-field="sentence"]')).to_contain_text("(ch-ht-nt pays no feed-in)")
    saving = costs.locator('[data-field="saving"]')
    await expect(saving).to_contain_text(
        f"Moving 20 % of your use in the dearer bands ({shifted['shift']['shifted_kwh']:.2f} kWh)"
    )
    await expect(saving).to_contain_text(f"would have saved {cents(shifted['shift']['saving'])}")

    # Insights of both meters as cards, each sentence as the API wrote it.
    for muid in (IMPORT_MUID, EXPORT_MUID):
        answer = await api_json(api_url, tenant_key, f"/v1/meters/{muid}/insights", **FEBRUARY)
        block = page.locator(f'.insight-meter[data-muid="{muid}"]')
        found = {k: v for k, v in answer["insights"].items() if k != "unavailable"}
        await expect(block.locator("article.insight")).to_have_count(len(found))
        for name, insight in found.items():
            await expect(block.locator(f'[data-insight="{name}"] [data-field="sentence"]')).to_have_text(
                insight["sentence"]
            )
        for name, reason in answer["insights"].get("unavailable", {}).items():
            await expect(block.locator(f'.unavailable li[data-insight="{name}"]')).to_contain_text(reason)
    imports = page.locator(f'.insight-meter[data-muid="{IMPORT_MUID}"]')
    await expect(imports.get_by_role("article", name="Base load")).to_contain_text("kW")
    exports = page.locator(f'.insight-meter[data-muid="{EXPORT_MUID}"]')
    await expect(exports.locator('[data-insight="pv_window"] [data-field="figure"]')).to_have_text("06:15–17:00")  # UTC

    # Data quality from /v1/quality: the February files stopped long ago, so both channels are silent.
    quality = page.locator(f'.quality-channel[data-muid="{IMPORT_MUID}"]')
    await expect(quality.locator('[data-field="silent"]')).to_have_attribute("data-silent", "true")
    await expect(quality.locator('[data-field="missing"]')).to_have_text("none of 2688 intervals")
    await screenshot(page, "dashboard-site-1080p-light")


async def test_a_site_with_production_shows_self_consumption_and_self_sufficiency(
    api_url: str, tenant_key: str, pv_site: str, open_page: OpenPage
) -> None:
    balance = await api_json(api_url, tenant_key, f"/v1/sites/{pv_site}/balance", interval="1d", **FEBRUARY)
    assert balance["unavailable"] == {}
    page = await open_page(dashboard(api_url, tenant_key, f"site={pv_site}&r=month&s=2023-02-01&tz=UTC"))
    await dashboard_ready(page)
    view = page.locator("#view-balance")
    totals = balance["totals"]
    assert totals["production_kwh"] == pytest.approx(72.3945) and totals["self_consumption_rate"] == 0.5
    for field in ("production_kwh", "self_consumption_kwh", "self_consumption_rate", "self_sufficiency"):
        assert await value_of(page, f'#balance-body [data-field="{field}"]') == totals[field]
    await expect(view.locator('[data-field="production_kwh"]')).to_have_text("72.39 kWh")
    await expect(view.locator('[data-field="self_consumption_kwh"]')).to_have_text("36.20 kWh")
    await expect(view.locator('[data-field="self_consumption_rate"]')).to_have_text("50 %")
    await expect(view.locator('[data-field="self_sufficiency"]')).to_have_text(
        f"{round(totals['self_sufficiency'] * 100)} %"
    )
    await expect(view.locator(".unavailable")).to_have_count(0)
    # Three meters drawn: import, export and production.
    await expect(page.locator("#series-chart")).to_have_attribute("data-series", "3")


async def test_pickers_tariff_and_shift_switch_the_views(
    api_url: str, tenant_key: str, pv_site: str, open_page: OpenPage
) -> None:
    page = await open_page(dashboard(api_url, tenant_key, f"m={IMPORT_MUID}&r=month&s=2023-02-01&tz=UTC"))
    await dashboard_ready(page)
    await expect(page.locator("#view-balance")).to_be_hidden()
    await expect(page.get_by_role("radio", name="No site")).to_be_checked()
    # Without a site the cost is the meter's: ch-ht-nt, with the 20 % shift's saving.
    meter_cost = await api_json(
        api_url, tenant_key, f"/v1/meters/{IMPORT_MUID}/cost", tariff="ch-ht-nt", shift="0.2", **FEBRUARY
    )
    assert await value_of(page, '#cost-body [data-field="total"]') == meter_cost["total_cost"]
    await expect(page.locator("#cost-body")).to_contain_text("Cost of meter 95ce3367 (import)")
    await expect(page.locator('#cost-body [data-field="saving"]')).to_contain_text(cents(meter_cost["shift"]["saving"]))

    # One search box filters sites and meters alike.
    search = page.get_by_role("searchbox", name="Search meters and sites")
    await search.fill(pv_site)
    await expect(page.locator("#site-count")).to_have_text("1 of 2 sites")  # the neighbour's site is not listed
    await expect(page.locator("#meter-count")).to_have_text("0 of 3 meters")
    await search.fill("production")
    await expect(page.locator("#site-count")).to_have_text("1 of 2 sites")
    await expect(page.locator("#site-list li")).to_contain_text(f"production {PRODUCTION_MUID[:8]}")
    await search.fill("import")
    await expect(page.locator("#site-count")).to_have_text("2 of 2 sites")  # both have an import channel
    await expect(page.locator("#meter-count")).to_have_text("1 of 3 meters")
    await search.fill("")

    # Keyboard: from "No site", the arrow key chooses the site; its meters are checked and its balance shows.
    await page.get_by_role("radio", name="No site").focus()
    await page.keyboard.press("ArrowDown")
    await dashboard_ready(page)
    await expect(page.get_by_role("radio", name=SITE, exact=False).first).to_be_checked()
    await expect(page.locator("#view-balance")).to_be_visible()
    await expect(page.get_by_role("checkbox", name=EXPORT_MUID)).to_be_checked()
    assert f"site={SITE}" in page.url

    # Another tariff: the figures follow (ch-ht-nt-zh has a monthly fee and a feed-in price).
    await page.get_by_label("Tariff", exact=True).select_option("ch-ht-nt-zh")
    await dashboard_ready(page)
    zh = await api_json(api_url, tenant_key, f"/v1/sites/{SITE}/cost", tariff="ch-ht-nt-zh", **FEBRUARY)
    assert await value_of(page, '#cost-body [data-field="total"]') == zh["total_cost"]
    await expect(page.locator('#cost-body tr[data-band="feed_in"]')).to_have_count(1)
    await expect(page.locator('#cost-body [data-field="sentence"]')).to_contain_text(
        f"earned {cents(zh['export']['remuneration'])}"
    )
    assert "t=ch-ht-nt-zh" in page.url

    # The shift: half of the high-band use moved.
    shift = page.get_by_label("Share of high-band use moved to the low band")
    await shift.fill("50")
    await dashboard_ready(page)
    half = await api_json(
        api_url, tenant_key, f"/v1/meters/{IMPORT_MUID}/cost", tariff="ch-ht-nt-zh", shift="0.5", **FEBRUARY
    )
    await expect(page.locator('#cost-body [data-field="saving"]')).to_contain_text(
        f"Moving 50 % of your use in the dearer bands ({half['shift']['shifted_kwh']:.2f} kWh)"
    )
    await expect(page.locator("#shift-value")).to_have_text("50 %")
    assert "sh=0.5" in page.url

    # Back to no site: the balance goes, the meters stay.
    await page.get_by_role("radio", name="No site").check()
    await dashboard_ready(page)
    await expect(page.locator("#view-balance")).to_be_hidden()
    assert "site=" not in page.url


async def test_each_view_downloads_what_it_shows(api_url: str, tenant_key: str, open_page: OpenPage) -> None:
    page = await open_page(dashboard(api_url, tenant_key, SITE_MONTH))
    await dashboard_ready(page)

    name, rows = await downloaded(page, "Download balance CSV")
    assert name == f"meterflow_balance_{SITE}_2023-02-01T0000_2023-03-01T0000.csv"
    assert rows[0] == ["start", "end", "import_kwh", "export_kwh", "net_kwh"]
    assert len(rows) == 1 + 28
    assert rows[1][:2] == ["2023-02-01T00:00:00+00:00", "2023-02-02T00:00:00+00:00"]
    assert sum(float(r[2]) for r in rows[1:]) == pytest.approx(97.6082, abs=1e-6)
    assert sum(float(r[3]) for r in rows[1:]) == pytest.approx(36.19725, abs=1e-6)

    name, rows = await downloaded(page, "Download cost CSV")
    assert name == f"meterflow_cost_{SITE}_2023-02-01T0000_2023-03-01T0000.csv"
    assert rows[0] == ["start", "end", "import_kwh", "export_kwh", "import_cost", "export_remuneration", "net_cost"]
    assert len(rows) == 1 + 28
    assert sum(float(r[4]) for r in rows[1:]) == pytest.approx(25.0714, abs=28 * 5e-5)

    name, rows = await downloaded(page, "Download daily CSV")
    assert name == "meterflow_daily_95ce3367+1db7649e_2023-02-01T0000_2023-03-01T0000.csv"
    assert rows[0] == ["start", "end", "95ce3367 import", "1db7649e export"]
    assert len(rows) == 1 + 28
    assert sum(float(r[2]) for r in rows[1:]) == pytest.approx(97.6082, abs=1e-6)
    assert sum(float(r[3]) for r in rows[1:]) == pytest.approx(36.19725, abs=1e-6)


async def test_unknown_site_shows_not_found(
    api_url: str, tenant_key: str, open_page: OpenPage, page_errors: PageErrors
) -> None:
    page_errors.expect(r"Failed to load resource: the server responded with a status of 404")
    page = await open_page(dashboard(api_url, tenant_key, f"site=nope&m={IMPORT_MUID}&r=month&s=2023-02-01&tz=UTC"))
    await expect(page.locator("#error")).to_contain_text("Site not found: unknown site 'nope'")


@pytest.mark.parametrize(
    ("name", "site", "viewport", "scheme"),
    [
        ("dashboard-site-1080p-dark", PV_SITE, DESKTOP, "dark"),
        ("dashboard-site-375px-light", SITE, PHONE, "light"),
        ("dashboard-site-375px-dark", SITE, PHONE, "dark"),
    ],
)
async def test_site_views_readable_in_both_themes_at_1080p_and_375px(
    api_url: str,
    tenant_key: str,
    pv_site: str,
    open_page: OpenPage,
    screenshot: Screenshot,
    name: str,
    site: str,
    viewport: dict[str, int],
    scheme: str,
) -> None:
    page = await open_page(
        dashboard(api_url, tenant_key, f"site={site}&r=month&s=2023-02-01&tz=Europe/Zurich"), viewport, scheme
    )
    await dashboard_ready(page)
    await expect(page.locator("#balance-chart")).to_have_attribute("data-points", "28")
    await expect(page.locator("article.insight").first).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    for section in ("#view-balance", "#view-cost", "#view-insights"):
        box = await page.locator(section).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"], section
    await screenshot(page, name)


async def test_a_range_too_long_for_cost_and_insights_leaves_the_other_views_alone(
    api_url: str, tenant_key: str, open_page: OpenPage, page_errors: PageErrors
) -> None:
    page_errors.expect(r"Failed to load resource: the server responded with a status of 422")
    page = await open_page(dashboard(api_url, tenant_key, f"site={SITE}&r=custom&s=2022-01-01&e=2024-01-01&tz=UTC"))
    await dashboard_ready(page)
    await expect(page.locator("#error")).to_be_hidden()
    await expect(page.locator("#series-chart")).to_have_attribute("data-points", "730")
    await expect(page.locator("#cost-body .refused")).to_contain_text("Not available for this range:")
    await expect(page.locator("#insights-body .refused")).to_contain_text("Not available for this range:")
