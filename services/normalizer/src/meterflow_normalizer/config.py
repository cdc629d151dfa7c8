"""Normalizer settings (env prefix NORMALIZER_; the broker also reads KAFKA_BOOTSTRAP_SERVERS)."""

from __future__ import annotations

from meterflow_contracts import DLQ, RAW, READINGS
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NORMALIZER_", extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092",
        validation_alias=AliasChoices("NORMALIZER_KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    app_id: str = "meterflow-normalizer"
    raw_topic: str = RAW.name
    readings_topic: str = READINGS.name
    dlq_topic: str = DLQ.name
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(9102, ge=1, le=65535)
    data_dir: str = ".local/normalizer"
    # How soon a crashed worker's partitions move to a live one (heartbeats go every 3 s).
    session_timeout_s: float = Field(30.0, ge=6)
    log_level: str = "INFO"
