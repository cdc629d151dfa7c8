"""Every service embeds one KafkaSettings; the shared KAFKA_BOOTSTRAP_SERVERS applies below the service's
own variable, and every duration setting is in seconds with the suffix ``_s``."""

from __future__ import annotations

from typing import Any

import pytest
from meterflow_api.config import Settings as ApiSettings
from meterflow_kit.settings import KafkaSettings, ServiceSettings
from meterflow_normalizer.config import Settings as NormalizerSettings
from meterflow_poller.config import Settings as PollerSettings
from meterflow_writer.config import Settings as WriterSettings

KAFKA_SERVICES: dict[str, type[ServiceSettings]] = {
    "POLLER_": PollerSettings,
    "NORMALIZER_": NormalizerSettings,
    "WRITER_": WriterSettings,
}
REQUIRED = {
    "AWS_ACCESS_KEY_ID": "a",
    "AWS_SECRET_ACCESS_KEY": "b",
    "DATABASE_URL": "postgresql://u:p@db:5432/meterflow",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith(("POLLER_", "NORMALIZER_", "WRITER_", "API_", "KAFKA_", "DATABASE_", "AWS_")):
            monkeypatch.delenv(key)
    for key, value in REQUIRED.items():
        monkeypatch.setenv(key, value)


@pytest.mark.parametrize("prefix", sorted(KAFKA_SERVICES))
def test_shared_bootstrap_applies_below_the_service_variable(prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings_cls = KAFKA_SERVICES[prefix]
    assert settings_cls().kafka.bootstrap_servers == "127.0.0.1:9092"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    assert settings_cls().kafka.bootstrap_servers == "kafka:9092"
    monkeypatch.setenv(f"{prefix}KAFKA__SESSION_TIMEOUT_S", "7.5")
    both = settings_cls().kafka
    assert (both.bootstrap_servers, both.session_timeout_s, both.session_timeout_ms) == ("kafka:9092", 7.5, 7500)
    monkeypatch.setenv(f"{prefix}KAFKA__BOOTSTRAP_SERVERS", "own:9092")
    assert settings_cls().kafka.bootstrap_servers == "own:9092"


def test_session_timeout_defaults_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    assert WriterSettings().kafka.session_timeout_s == 10.0
    assert PollerSettings().kafka.session_timeout_s == 10.0
    assert NormalizerSettings().kafka.session_timeout_s == 30.0
    monkeypatch.setenv("WRITER_KAFKA__SESSION_TIMEOUT_S", "5")
    with pytest.raises(ValueError, match="session_timeout_s"):
        WriterSettings()
    with pytest.raises(ValueError, match="extra"):
        KafkaSettings(bootstrap="x")  # type: ignore[call-arg]


@pytest.mark.parametrize("settings_cls", [*KAFKA_SERVICES.values(), ApiSettings], ids=lambda c: c.__module__)
def test_every_duration_setting_is_in_seconds_with_suffix_s(settings_cls: Any) -> None:
    names = set(settings_cls.model_fields) | set(KafkaSettings.model_fields)
    assert not [n for n in names if n.endswith(("_ms", "_seconds", "_sec", "_timeout", "_interval"))]
    timed = [n for n in names if "timeout" in n or "interval" in n or n.startswith("retry_max")]
    assert timed and all(n.endswith("_s") for n in timed)
