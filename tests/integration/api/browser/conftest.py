"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, and the query API as a real process
on a free port over a database holding the real February files.

Chromium is /usr/bin/chromium (`make chromium` installs it with apt-get; MF_CHROMIUM overrides the path);
Playwright's own browser download is never used. Screenshots go to MF_ARTIFACTS_DIR (default
<repo>/.local/artifacts/browser). Every page fixture fails its test when the page logs a console error or
throws, unless the test declares the messages it expects (``page_errors.expect(...)``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from integration.api.browser.pages import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    EXPORT_MUID,
    IMPORT_MUID,
    SITE,
    TENANT,
    OpenPage,
    PageErrors,
    Screenshot,
)
from meterflow_cli.sites_cmd import ChannelSpec, create_site
from meterflow_harness.api_keys import admin_key, assign_meters, make_key
from meterflow_harness.paths import BIN
from meterflow_harness.ports import free_port
from meterflow_harness.processes import ServiceProcess, service_env
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

RowsOf = Callable[[str], list[Any]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]


@pytest.fixture(scope="module")
async def api_url(
    database: str, source_rows: RowsOf, insert_rows: Inserter, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    """Base URL of ``meterflow-api`` serving this module's database, loaded with both real meters."""
    await insert_rows(database, source_rows(IMPORT_MUID) + source_rows(EXPORT_MUID))
    port = free_port()
    api = ServiceProcess(
        "api",
        [str(BIN / "meterflow-api")],
        service_env({"API_DATABASE_URL": database, "API_PORT": str(port)}),
        tmp_path_factory.mktemp("api") / "api.log",
        ops_url=f"http://127.0.0.1:{port}",
    ).start()
    try:
        await asyncio.to_thread(api.wait_healthy, 60)
        yield f"http://127.0.0.1:{port}"
    finally:
        api.stop()


@pytest.fixture(scope="module")
async def api_key(database: str) -> str:
    """The key the pages sign in with: an admin-scope key of the module's database (sees both meters)."""
    return await admin_key(database)


@pytest.fixture(scope="module")
async def tenant_key(database: str, api_url: str) -> str:
    """A read key of a household tenant that owns both real meters and the site SITE of them (import and
    export; no production channel). Depends on ``api_url`` so that the channels exist when the site picks them."""
    await assign_meters(database, TENANT, [IMPORT_MUID, EXPORT_MUID])
    await create_site(
        database,
        SITE,
        TENANT,
        [
            ChannelSpec("import", "", uuid.UUID(IMPORT_MUID), None),
            ChannelSpec("export", "", uuid.UUID(EXPORT_MUID), None),
        ],
    )
    return await make_key(database, TENANT)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; a skip (a failure in CI) when it is not installed."""
    if not CHROMIUM.is_file():
        pytest.skip(
            f"Chromium not found at {CHROMIUM}: run `make chromium` (apt-get install chromium) or set MF_CHROMIUM"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """Headless Chromium, one per test module; each page gets a fresh context (and profile)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def page_errors() -> PageErrors:
    return PageErrors()


@pytest.fixture
async def open_page(browser: Browser, page_errors: PageErrors) -> AsyncIterator[OpenPage]:
    """``await open_page(url, viewport=DESKTOP, color_scheme="light")``: a page in a fresh context, its console
    watched; the test fails at teardown when any page logged an error it did not expect."""
    contexts: list[BrowserContext] = []

    async def open_one(url: str, viewport: dict[str, int] = DESKTOP, color_scheme: Any = "light") -> Page:
        context = await browser.new_context(
            viewport=viewport, color_scheme=color_scheme, accept_downloads=True, timezone_id="UTC", locale="en-GB"
        )
        contexts.append(context)
        page = await context.new_page()
        page.on("console", page_errors.on_console)
        page.on("pageerror", page_errors.on_page_error)
        await page.goto(url)
        return page

    yield open_one
    for context in contexts:
        await context.close()
    assert page_errors.unexpected() == [], "the page logged errors"


@pytest.fixture(scope="session")
def screenshot() -> Screenshot:
    """``await screenshot(page, name)``: a full-page screenshot as <artifacts>/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    async def take(page: Page, name: str) -> Path:
        path = ARTIFACTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take
