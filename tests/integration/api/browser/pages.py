"""What the browser tests share besides fixtures: the real meters, Chromium's path and flags, viewports, the
console-error collector and the fixtures' callable types. Imported as ``integration.api.browser.pages``."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from meterflow_harness.paths import REPO
from playwright.async_api import ConsoleMessage, Page, expect

IMPORT_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
EXPORT_MUID = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
TENANT = "household"  # owns both meters and SITE (tenant_key signs in as it)
SITE = "home"
CHROMIUM = Path(os.environ.get("MF_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("MF_ARTIFACTS_DIR", REPO / ".local" / "artifacts" / "browser"))
# What works here (a container, no GPU, no network): no sandbox, nothing that phones home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1920, "height": 1080}
PHONE = {"width": 375, "height": 812}
OpenPage = Callable[..., Awaitable[Page]]
Screenshot = Callable[[Page, str], Awaitable[Path]]


@dataclass
class PageErrors:
    """Console errors and uncaught exceptions of the pages a test opened; ``expect`` allows a pattern."""

    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def expect(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"console: {message.text} ({message.location.get('url', '')})")

    def on_page_error(self, error: Exception) -> None:
        self.seen.append(f"uncaught: {error}")

    def unexpected(self) -> list[str]:
        return [m for m in self.seen if not any(p.search(m) for p in self.allowed)]


async def dashboard_ready(page: Page) -> None:
    """Waits until the dashboard's last refresh finished: every view drew (body data-ready="true")."""
    await expect(page.locator("body")).to_have_attribute("data-ready", "true")
    await expect(page.locator("#status")).not_to_have_text("Loading…")
