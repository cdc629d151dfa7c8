"""SASL/SCRAM and TLS settings reach every Kafka client the services and the CLI build: the clients they
construct carry them, and no code builds an aiokafka client or a Faust app without them (a source check, so
a client added later cannot forget them)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from meterflow_kit.consumer import GroupConsumer
from meterflow_kit.dead_letters import DeadLetterProducer
from meterflow_kit.lag import GroupLagExporter
from meterflow_kit.settings import KafkaSettings, ServiceSettings, shared_kafka_settings
from meterflow_normalizer.config import Settings as NormalizerSettings
from meterflow_normalizer.main import broker_credentials
from meterflow_poller.kafka import Publisher
from meterflow_writer.config import Settings as WriterSettings
from prometheus_client import CollectorRegistry, Gauge

REPO = Path(__file__).resolve().parents[3]
CLIENT_CLASSES = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient"}
# Product code only: the test harness talks to the local broker.
PRODUCT_CODE = ("libs", "services", "tools/cli")

SASL = KafkaSettings(
    bootstrap_servers="broker-1:9096",
    security_protocol="SASL_SSL",
    sasl_mechanism="SCRAM-SHA-512",
    sasl_username="meterflow-writer",
    sasl_password="scram-secret",  # pydantic turns it into a SecretStr
)


def client_of(wrapper: Any) -> Any:
    """The AIOKafkaClient inside a producer, consumer or admin client."""
    return getattr(wrapper, "client", None) or wrapper._client


def assert_secured(wrapper: Any) -> None:
    client = client_of(wrapper)
    assert client._security_protocol == "SASL_SSL"
    assert client._sasl_mechanism == "SCRAM-SHA-512"
    assert client._sasl_plain_username == "meterflow-writer"
    assert client._sasl_plain_password == "scram-secret"
    assert client._ssl_context is not None


def test_client_options_carry_sasl_and_tls() -> None:
    options = SASL.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == "scram-secret"
    assert options["ssl_context"] is not None
    assert "scram-secret" not in repr(SASL)


def test_plaintext_is_the_local_default() -> None:
    assert KafkaSettings().client_options() == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}


def test_sasl_without_credentials_is_refused() -> None:
    with pytest.raises(ValueError, match="KAFKA_SASL_PASSWORD"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="u")


async def test_every_kit_and_poller_client_is_secured() -> None:
    gauge = Gauge("test_security_lag", "lag", ["topic", "partition"], registry=CollectorRegistry())
    assert_secured(DeadLetterProducer(SASL)._producer)
    assert_secured(GroupConsumer(SASL, "t", "g")._consumer)
    exporter = GroupLagExporter(SASL, "g", ["t"], gauge)
    assert_secured(exporter._admin)
    assert_secured(exporter._ends)
    assert_secured(Publisher(SASL)._producer)


def test_faust_gets_the_credentials() -> None:
    credentials = broker_credentials(SASL)
    assert credentials is not None
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"  # type: ignore[union-attr]
    assert credentials.username == "meterflow-writer"  # type: ignore[union-attr]
    assert broker_credentials(KafkaSettings()) is None
    assert broker_credentials(KafkaSettings(security_protocol="SSL")).protocol.value == "SSL"  # type: ignore[union-attr]


@pytest.mark.parametrize("settings_cls", [NormalizerSettings, WriterSettings])
def test_shared_variables_and_password_files_reach_the_services(
    settings_cls: type[ServiceSettings], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    password = tmp_path / "kafka-password"
    password.write_text("from-a-file\n")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/meterflow")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(password))
    kafka = settings_cls().kafka
    assert kafka.client_options()["sasl_plain_password"] == "from-a-file"
    assert "from-a-file" not in repr(settings_cls())
    assert shared_kafka_settings().client_options()["sasl_plain_username"] == "svc"


def kafka_calls(path: Path) -> list[tuple[int, str, ast.Call]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name in CLIENT_CLASSES or (name == "App" and ast.unparse(node.func) == "faust.App"):
                found.append((node.lineno, name, node))
    return found


def secured(name: str, call: ast.Call) -> bool:
    if name == "App":
        return any(k.arg == "broker_credentials" for k in call.keywords)
    spread = [ast.unparse(k.value) for k in call.keywords if k.arg is None]
    # Either the settings' options, or the options a caller passed on (contracts.admin cannot import the kit).
    return any("client_options" in value for value in spread)


def test_no_client_is_built_without_the_security_settings() -> None:
    unsecured, seen = [], 0
    for root in PRODUCT_CODE:
        for path in sorted((REPO / root).rglob("*.py")):
            for line, name, call in kafka_calls(path):
                seen += 1
                if not secured(name, call):
                    unsecured.append(f"{path.relative_to(REPO)}:{line} {name}")
    assert seen >= 8, "the source check found too few clients: has the code moved?"
    assert not unsecured, f"Kafka clients built without KafkaSettings.client_options(): {unsecured}"
