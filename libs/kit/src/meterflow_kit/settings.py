"""Settings shared by the services: the Kafka client settings every service embeds, and the base class
that reads them from the environment.

A service's settings derive from :class:`ServiceSettings` and hold ``kafka: KafkaSettings``. Its
variables are ``<PREFIX>KAFKA__BOOTSTRAP_SERVERS`` and ``<PREFIX>KAFKA__SESSION_TIMEOUT_S`` (e.g.
``WRITER_KAFKA__SESSION_TIMEOUT_S``); the shared ``KAFKA_BOOTSTRAP_SERVERS`` applies where the service's
own variable is not set. Every duration setting of every service is in seconds and ends in ``_s``.

``kafka.topics`` (:class:`TopicDurability`: replication factor, min.insync.replicas, retention) is what
the topics are created with and what each service checks its topics against at start-up. Production's
defaults apply unless set; a one-broker cluster sets the shared ``KAFKA_TOPIC_REPLICATION_FACTOR=1``
and ``KAFKA_TOPIC_MIN_INSYNC_REPLICAS=1`` (infra/local.env does), or ``<PREFIX>KAFKA__TOPICS__*``.
"""

from __future__ import annotations

import os
from typing import Any

from meterflow_contracts import TopicDurability
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SHARED_BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
# Shared variables for the topics' durability: one setting for every service and the CLI.
SHARED_DURABILITY_ENV = {
    "KAFKA_TOPIC_REPLICATION_FACTOR": "replication_factor",
    "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "min_insync_replicas",
    "KAFKA_TOPIC_RETENTION_MS": "retention_ms",
    "KAFKA_TOPIC_RETENTION_BYTES": "retention_bytes",
    "KAFKA_DLQ_RETENTION_MS": "dlq_retention_ms",
}

__all__ = ["KafkaSettings", "ServiceSettings", "TopicDurability", "shared_durability"]


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

    @property
    def session_timeout_ms(self) -> int:
        return round(self.session_timeout_s * 1000)


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
        return init_settings, env_settings, dotenv_settings, SharedKafkaEnv(settings_cls), file_secret_settings


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
        return {"kafka": kafka} if kafka else {}


def _shared_durability_values() -> dict[str, str]:
    return {field: os.environ[env] for env, field in SHARED_DURABILITY_ENV.items() if os.environ.get(env)}


def shared_durability() -> TopicDurability:
    """The durability the shared ``KAFKA_TOPIC_*`` variables set (production's defaults where unset):
    for tools without service settings, such as ``meterflow topics create``."""
    return TopicDurability.model_validate(_shared_durability_values())
