"""Settings shared by the services: the Kafka client settings every service embeds, and the base class
that reads them from the environment.

A service's settings derive from :class:`ServiceSettings` and hold ``kafka: KafkaSettings``. Its
variables are ``<PREFIX>KAFKA__BOOTSTRAP_SERVERS`` and ``<PREFIX>KAFKA__SESSION_TIMEOUT_S`` (e.g.
``WRITER_KAFKA__SESSION_TIMEOUT_S``); the shared ``KAFKA_BOOTSTRAP_SERVERS`` applies where the service's
own variable is not set. Every duration setting of every service is in seconds and ends in ``_s``.

Production credentials (docs/security.md): ``kafka.security_protocol`` with SASL (``sasl_mechanism``,
``sasl_username``, ``sasl_password``) and TLS (``ssl_cafile``, ``ssl_certfile``, ``ssl_keyfile``), shared as
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_*`` and ``KAFKA_SSL_*``; :meth:`KafkaSettings.client_options` is
what every aiokafka client is built with. Any variable a setting reads may instead be given as
``<NAME>_FILE``, the path of a file holding the value (a mounted secret): secrets never go on a command line.

``kafka.topics`` (:class:`TopicDurability`: replication factor, min.insync.replicas, retention) is what
the topics are created with and what each service checks its topics against at start-up. Production's
defaults apply unless set; a one-broker cluster sets the shared ``KAFKA_TOPIC_REPLICATION_FACTOR=1``
and ``KAFKA_TOPIC_MIN_INSYNC_REPLICAS=1`` (infra/local.env does), or ``<PREFIX>KAFKA__TOPICS__*``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from meterflow_contracts import TopicDurability
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

SHARED_BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
# Shared variables for the topics' durability: one setting for every service and the CLI.
SHARED_DURABILITY_ENV = {
    "KAFKA_TOPIC_REPLICATION_FACTOR": "replication_factor",
    "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "min_insync_replicas",
    "KAFKA_TOPIC_RETENTION_MS": "retention_ms",
    "KAFKA_TOPIC_RETENTION_BYTES": "retention_bytes",
    "KAFKA_DLQ_RETENTION_MS": "dlq_retention_ms",
}
# Shared variables for how every client authenticates: one setting for every service and the CLI.
SHARED_SECURITY_ENV = {
    "KAFKA_SECURITY_PROTOCOL": "security_protocol",
    "KAFKA_SASL_MECHANISM": "sasl_mechanism",
    "KAFKA_SASL_USERNAME": "sasl_username",
    "KAFKA_SASL_PASSWORD": "sasl_password",
    "KAFKA_SSL_CAFILE": "ssl_cafile",
    "KAFKA_SSL_CERTFILE": "ssl_certfile",
    "KAFKA_SSL_KEYFILE": "ssl_keyfile",
}
FILE_SUFFIX = "_FILE"
_SECRET_FILE_MAX_BYTES = 64 * 1024

__all__ = ["KafkaSettings", "ServiceSettings", "TopicDurability", "shared_durability", "shared_kafka_settings"]


class KafkaSettings(BaseModel):
    """How a service reaches Kafka and how its consumer-group membership behaves."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    # The broker's defaults bound it: group.min.session.timeout.ms (6 s), group.max.session.timeout.ms (30 min).
    session_timeout_s: float = Field(
        10.0, ge=6, le=1800, description="Group session: how soon a crashed member's partitions move."
    )

    topics: TopicDurability = Field(
        default_factory=TopicDurability, description="Replication and retention the topics must have."
    )

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT locally; SASL_SSL (SCRAM over TLS) in production."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="Required with SASL_*; SCRAM-SHA-512 recommended."
    )
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(None, description="CA bundle that signed the brokers' certificates.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (mutual TLS), PEM.")
    ssl_keyfile: Path | None = Field(None, description="The client certificate's private key, PEM.")

    @model_validator(mode="after")
    def _sasl_complete(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism, sasl_username and sasl_password "
                "(KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME, KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE)"
            )
        return self

    @property
    def session_timeout_ms(self) -> int:
        return round(self.session_timeout_s * 1000)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments every aiokafka client (producer, consumer, admin) is built with: where the
        brokers are and how to authenticate to them."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL_"):
            assert self.sasl_password is not None  # _sasl_complete
            options |= {
                "sasl_mechanism": self.sasl_mechanism,
                "sasl_plain_username": self.sasl_username,
                "sasl_plain_password": self.sasl_password.get_secret_value(),
            }
        if self.security_protocol.endswith("SSL"):
            options["ssl_context"] = self.ssl_context()
        return options

    def ssl_context(self) -> Any:
        """The TLS context of SSL and SASL_SSL: the system's CAs unless ``ssl_cafile`` names others."""
        return create_ssl_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None,
            certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
            keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None,
        )


class ServiceSettings(BaseSettings):
    """Base of a service's settings: nested values with ``__`` (``WRITER_KAFKA__SESSION_TIMEOUT_S``), and
    the shared ``KAFKA_BOOTSTRAP_SERVERS`` below the service's own variables."""

    model_config = SettingsConfigDict(extra="ignore", env_nested_delimiter="__")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Later sources have lower priority; pydantic-settings deep-merges the nested ``kafka`` values.
        return (
            init_settings,
            env_settings,
            SecretFilesEnv(settings_cls),
            dotenv_settings,
            SharedKafkaEnv(settings_cls),
            file_secret_settings,
        )


class SecretFilesEnv(EnvSettingsSource):
    """Each ``<NAME>_FILE`` variable as the variable ``<NAME>`` holding the file's content (whitespace at
    its end stripped): Docker and Kubernetes secrets mounted as files, e.g. ``DATABASE_URL_FILE`` or
    ``POLLER_AWS_SECRET_ACCESS_KEY_FILE``. A variable set directly wins over its file."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        values = secret_file_values(os.environ)
        if not self.case_sensitive:
            values = {name.lower(): value for name, value in values.items()}
        return values


def secret_file_values(environ: Mapping[str, str]) -> dict[str, str]:
    """``{NAME: content}`` for every ``NAME_FILE`` in ``environ`` that names a small regular file. Other
    programs' ``*_FILE`` variables are skipped, not read; a secret whose file is missing shows as the
    setting's own "field required" error."""
    values: dict[str, str] = {}
    for variable, path in environ.items():
        if variable.upper().endswith(FILE_SUFFIX) and path:
            text = _small_file_text(Path(path))
            if text is not None:
                values[variable[: -len(FILE_SUFFIX)]] = text
    return values


def _small_file_text(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > _SECRET_FILE_MAX_BYTES:
            return None
        return path.read_text().rstrip()
    except (OSError, UnicodeDecodeError):
        return None


def env_or_file(name: str) -> str | None:
    """The variable ``name``, else the content of the file that ``<name>_FILE`` names, else None."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(name + FILE_SUFFIX)
    return _small_file_text(Path(path)) if path else None


class SharedKafkaEnv(PydanticBaseSettingsSource):
    """``KAFKA_BOOTSTRAP_SERVERS`` as ``kafka.bootstrap_servers`` and ``KAFKA_TOPIC_*`` as
    ``kafka.topics``: one variable for every service."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        kafka: dict[str, Any] = {}
        bootstrap = os.environ.get(SHARED_BOOTSTRAP_ENV)
        if bootstrap:
            kafka["bootstrap_servers"] = bootstrap
        durability = _shared_durability_values()
        if durability:
            kafka["topics"] = durability
        kafka |= _shared_security_values()
        return {"kafka": kafka} if kafka else {}


def _shared_security_values() -> dict[str, str]:
    found = {field: env_or_file(env) for env, field in SHARED_SECURITY_ENV.items()}
    return {field: value for field, value in found.items() if value}


def shared_kafka_settings(bootstrap_servers: str | None = None) -> KafkaSettings:
    """The Kafka settings of the shared ``KAFKA_*`` variables (bootstrap, security, durability): for tools
    without service settings, such as ``meterflow topics create``; ``bootstrap_servers`` overrides."""
    values: dict[str, Any] = {"topics": _shared_durability_values(), **_shared_security_values()}
    bootstrap = bootstrap_servers or os.environ.get(SHARED_BOOTSTRAP_ENV)
    if bootstrap:
        values["bootstrap_servers"] = bootstrap
    return KafkaSettings.model_validate(values)


def _shared_durability_values() -> dict[str, str]:
    return {field: os.environ[env] for env, field in SHARED_DURABILITY_ENV.items() if os.environ.get(env)}


def shared_durability() -> TopicDurability:
    """The durability the shared ``KAFKA_TOPIC_*`` variables set (production's defaults where unset):
    for tools without service settings, such as ``meterflow topics create``."""
    return TopicDurability.model_validate(_shared_durability_values())
