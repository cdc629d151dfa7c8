"""Writer settings (env prefix WRITER_; also reads KAFKA_BOOTSTRAP_SERVERS and DATABASE_URL)."""

from __future__ import annotations

from meterflow_contracts import DLQ, READINGS
from pydantic import AliasChoices, Field, PostgresDsn
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WRITER_", extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("WRITER_KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP_SERVERS")
    )
    # No default: the DSN carries a password. `make` and the test fixtures pass the local one.
    database_url: PostgresDsn = Field(validation_alias=AliasChoices("WRITER_DATABASE_URL", "DATABASE_URL"))
    group_id: str = "meterflow-writer"
    readings_topic: str = READINGS.name
    dlq_topic: str = DLQ.name
    batch_max_rows: int = Field(50_000, ge=1, description="Flush once this many readings are buffered.")
    batch_max_seconds: float = Field(0.5, gt=0, description="Flush at the latest this long after the first.")
    retry_max_seconds: float = Field(30.0, gt=0, description="Cap of the backoff while PostgreSQL is down.")
    db_timeout_seconds: float = Field(120.0, gt=0, description="Longest a single statement may run.")
    session_timeout_ms: int = Field(
        10_000, ge=1_000, description="Kafka group session: how soon a crashed writer's partitions move."
    )
    optimistic_copy: bool = Field(
        True,
        description="COPY straight into readings while no key exists yet; the staging upsert on a conflict.",
    )
    refresh_aggregates: bool = Field(
        True,
        description="On TimescaleDB, refresh the continuous aggregates over the buckets writes touched.",
    )
    refresh_interval_seconds: float = Field(
        1.0, gt=0, description="At most one aggregate refresh round this often (writes in between coalesce)."
    )
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(9103, ge=1, le=65535)
    log_level: str = "INFO"
