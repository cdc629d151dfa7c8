"""docker-compose.yml cannot run here (no Docker engine); this checks it against the code instead:
it parses, runs every console script that exists, and each service's environment is read by that
service's settings as intended."""

from __future__ import annotations

import os
import re
import tomllib
from typing import Any

import pytest
import yaml
from meterflow_api.config import Settings as ApiSettings
from meterflow_harness.paths import REPO
from meterflow_normalizer.config import Settings as NormalizerSettings
from meterflow_poller.config import Settings as PollerSettings
from meterflow_writer.config import Settings as WriterSettings

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
SETTINGS = {"poller": PollerSettings, "normalizer": NormalizerSettings, "writer": WriterSettings, "api": ApiSettings}
OPS_PORT_FIELD = {"poller": "ops_port", "normalizer": "ops_port", "writer": "ops_port", "api": "port"}


def expand(value: Any) -> str:
    """Resolve ${VAR:-default} the way compose does when VAR is unset."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))


def published(spec: str) -> tuple[str, int, int]:
    """(address, host port, container port) of a compose port entry "address:host:container"."""
    address, host, container = spec.rsplit(":", 2)
    return address, int(host), int(container)


def console_scripts() -> set[str]:
    scripts: set[str] = set()
    for pyproject in REPO.glob("*/*/pyproject.toml"):
        scripts |= set(tomllib.loads(pyproject.read_text()).get("project", {}).get("scripts", {}))
    return scripts


def test_stack_has_the_pipeline_and_its_servers() -> None:
    assert {"kafka", "timescaledb", "minio", "poller", "normalizer", "writer", "api", "prometheus", "grafana"} <= set(
        SERVICES
    )
    assert SERVICES["timescaledb"]["image"].startswith("timescale/timescaledb:")
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:")


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_service_command_is_a_console_script(name: str) -> None:
    command = SERVICES[name]["command"]
    assert command.split()[0] in console_scripts()
    assert command.split()[0] == f"meterflow-{name}"


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_service_environment_is_understood_by_its_settings(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    env = {key: expand(value) for key, value in SERVICES[name]["environment"].items()}
    for key in list(os.environ):
        if key.startswith(("POLLER_", "NORMALIZER_", "WRITER_", "API_", "KAFKA_", "DATABASE_", "S3_", "AWS_")):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings: Any = SETTINGS[name]()
    host_ports = {published(p)[1] for p in SERVICES[name].get("ports", [])}
    assert getattr(settings, OPS_PORT_FIELD[name]) in host_ports
    if hasattr(settings, "kafka"):
        assert settings.kafka.bootstrap_servers == "kafka:9092"
    if hasattr(settings, "database_url"):
        assert str(settings.database_url).endswith("@timescaledb:5432/meterflow")
    if name == "poller":
        assert settings.s3_endpoint_url == "http://minio:9000"
        assert settings.bucket == "meterflow-raw"
        assert settings.aws_access_key_id.get_secret_value() == expand(
            SERVICES["minio"]["environment"]["MINIO_ROOT_USER"]
        )


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    config = yaml.safe_load((REPO / "infra/prometheus/prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    for name in SETTINGS:
        ports = {published(p)[2] for p in SERVICES[name]["ports"]}
        assert any(t.split(":")[0] == name and int(t.split(":")[1]) in ports for t in targets), name


def test_every_port_is_published_on_the_loopback_only() -> None:
    entries = [(name, spec) for name, service in SERVICES.items() for spec in service.get("ports", [])]
    assert entries
    for name, spec in entries:
        assert isinstance(spec, str) and published(spec)[0] == "127.0.0.1", (name, spec)
