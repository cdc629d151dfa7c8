"""What the sources-file tests share: the poller's own settings and a sources file written for a test."""

from __future__ import annotations

from pathlib import Path

import pytest
from meterflow_poller.config import Settings
from meterflow_poller.sources import source_settings


def poller_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The poller's settings from an environment with its own key pair (what a source without one gets)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "poller-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "poller-secret")
    return Settings()


def with_file(base: Settings, tmp_path: Path, text: str) -> list[Settings]:
    """The sources' settings of a sources file holding ``text``."""
    path = tmp_path / "sources.yaml"
    path.write_text(text)
    return source_settings(base.model_copy(update={"sources_file": path}))
