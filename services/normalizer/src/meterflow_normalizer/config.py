"""Normalizer settings (env prefix NORMALIZER_, Kafka under NORMALIZER_KAFKA__*; the broker also reads
KAFKA_BOOTSTRAP_SERVERS). Durations are in seconds (``_s``)."""

from __future__ import annotations

from meterflow_contracts import DLQ, RAW, READINGS
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
    readings_topic: str = READINGS.name
    dlq_topic: str = DLQ.name
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(9102, ge=1, le=65535)
    data_dir: str = ".local/normalizer"
    lag_interval_s: float = Field(5.0, gt=0, description="How often the consumer lag is read from the broker.")
    log_level: str = "INFO"
