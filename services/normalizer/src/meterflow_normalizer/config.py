"""Normalizer settings (env prefix NORMALIZER_, Kafka under NORMALIZER_KAFKA__*; the broker also reads
KAFKA_BOOTSTRAP_SERVERS). Durations are in seconds (``_s``)."""

from __future__ import annotations

from typing import Literal

from meterflow_contracts import DLQ, RAW, READINGS, READINGS_V2
from meterflow_kit.settings import KafkaSettings, ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class NormalizerKafka(KafkaSettings):
    # How soon a crashed worker's partitions move to a live one (heartbeats go every 3 s).
    session_timeout_s: float = Field(30.0, ge=6, le=1800)


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NORMALIZER_")

    kafka: NormalizerKafka = Field(default_factory=NormalizerKafka)
    app_id: str = "meterflow-normalizer"
    raw_topic: str = RAW.name
    readings_topic: str = READINGS_V2.name
    readings_version: Literal[1, 2] | None = Field(
        None,
        description="Contract published on readings_topic: 2 (columns) or 1 (triples); unset: the version its "
        "name carries (meter.readings.v1... is 1, anything else 2).",
    )
    also_v1_topic: str = Field(
        "",
        description="When set, every batch is also published there as meter.readings.v1 (for subscribers that "
        "still read v1; costs about a fifth more normalizer CPU, see bench/README.md).",
    )
    dlq_topic: str = DLQ.name
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(9102, ge=1, le=65535)
    data_dir: str = ".local/normalizer"
    lag_interval_s: float = Field(5.0, gt=0, description="How often the consumer lag is read from the broker.")
    log_level: str = "INFO"

    @property
    def readings_contract(self) -> Literal[1, 2]:
        """The contract version published on ``readings_topic``."""
        if self.readings_version is not None:
            return self.readings_version
        return 1 if self.readings_topic.startswith(READINGS.name) else 2
