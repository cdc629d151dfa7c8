"""Poller settings (env prefix POLLER_; also reads KAFKA_BOOTSTRAP_SERVERS, S3_ENDPOINT_URL, AWS_*)."""

from __future__ import annotations

from meterflow_contracts import CHECKPOINTS, DLQ, RAW
from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLLER_", extra="ignore")

    kafka_bootstrap: str = Field(
        "127.0.0.1:9092", validation_alias=AliasChoices("POLLER_KAFKA_BOOTSTRAP", "KAFKA_BOOTSTRAP_SERVERS")
    )
    s3_endpoint_url: str | None = Field(
        "http://127.0.0.1:9000", validation_alias=AliasChoices("POLLER_S3_ENDPOINT_URL", "S3_ENDPOINT_URL")
    )
    s3_region: str = Field("us-east-1", validation_alias=AliasChoices("POLLER_S3_REGION", "AWS_DEFAULT_REGION"))
    # No defaults for credentials: they come from the environment (moto accepts any pair locally).
    aws_access_key_id: SecretStr = Field(validation_alias=AliasChoices("POLLER_AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr = Field(
        validation_alias=AliasChoices("POLLER_AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")
    )
    bucket: str = "meterflow-raw"
    prefixes: list[str] = Field(default_factory=lambda: [""], description="Key prefixes to list.")
    interval_s: float = Field(900.0, gt=0, description="Seconds between polls (default 15 minutes).")
    jitter_s: float = Field(30.0, ge=0, description="Random extra delay so instances do not poll in step.")
    chunk_max_records: int = Field(5_000, ge=1)
    chunk_max_bytes: int = Field(900_000, ge=1_000, description="Source bytes per raw message (< 1 MB).")
    instance_index: int = Field(0, ge=0, description="This instance's share of the key space.")
    instance_count: int = Field(1, ge=1, description="How many poller instances share the bucket.")
    raw_topic: str = RAW.name
    dlq_topic: str = DLQ.name
    checkpoint_topic: str = CHECKPOINTS.name
    retry_max_seconds: float = Field(60.0, gt=0)
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(9101, ge=1, le=65535)
    log_level: str = "INFO"

    @model_validator(mode="after")
    def _index_within_count(self) -> Settings:
        if self.instance_index >= self.instance_count:
            raise ValueError(
                f"POLLER_INSTANCE_INDEX={self.instance_index} must be below POLLER_INSTANCE_COUNT={self.instance_count}"
            )
        return self
