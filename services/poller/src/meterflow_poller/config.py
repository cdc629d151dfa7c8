"""Poller settings (env prefix POLLER_, Kafka under POLLER_KAFKA__*; also reads KAFKA_BOOTSTRAP_SERVERS,
S3_ENDPOINT_URL, AWS_*). Durations are in seconds (``_s``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from meterflow_contracts import CHECKPOINTS, DLQ, RAW
from meterflow_contracts.models import TENANT_PATTERN
from meterflow_kit.settings import ServiceSettings
from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import NoDecode, SettingsConfigDict

from meterflow_poller.domain import default_group_id, normalize_prefixes


class HttpSettings(BaseModel):
    """An HTTP source (http_source.py, docs/sources.md, "HTTP"): readings of ``muids`` pulled in the source
    company's format from ``base_url`` + ``path`` (Meterflow's own /meterdata/measurement serves it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str = Field(min_length=1)
    path: str = "/meterdata/measurement"
    muids: list[str] = Field(min_length=1)
    measurement: str = "energy"
    start: AwareDatetime
    until: AwareDatetime | None = None
    window_s: float = Field(86_400.0, gt=0)
    settle_s: float = Field(3_600.0, ge=0)
    limit: int = Field(3_000, ge=1, le=10_000)
    timeout_s: float = Field(30.0, gt=0)
    max_attempts: int = Field(5, ge=1)
    rate_per_s: float = Field(5.0, gt=0)
    retry_after_max_s: float = Field(300.0, ge=0)
    # Resolved from the environment or files named in the sources file (sources.py): never inline there.
    headers: dict[str, SecretStr] = Field(default_factory=dict)


class Settings(ServiceSettings):
    """``kafka`` (bootstrap servers, session timeout: how fast a dead leader is replaced) comes from
    ServiceSettings."""

    model_config = SettingsConfigDict(env_prefix="POLLER_")

    s3_endpoint_url: str | None = Field(
        "http://127.0.0.1:9000", validation_alias=AliasChoices("POLLER_S3_ENDPOINT_URL", "S3_ENDPOINT_URL")
    )
    s3_region: str = Field("us-east-1", validation_alias=AliasChoices("POLLER_S3_REGION", "AWS_DEFAULT_REGION"))
    # A static key pair from the environment (or ``*_FILE`` files, see ServiceSettings); unset, boto3's chain
    # finds credentials itself: AWS_PROFILE, web identity (IRSA), container or instance roles.
    aws_access_key_id: SecretStr | None = Field(
        None, validation_alias=AliasChoices("POLLER_AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID")
    )
    aws_secret_access_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("POLLER_AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")
    )
    bucket: str = Field("meterflow-raw", min_length=3)
    prefixes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [""], description="Key prefixes to list: comma-separated or a JSON list."
    )
    interval_s: float = Field(900.0, gt=0, description="Seconds between polls (default 15 minutes).")
    jitter_s: float = Field(30.0, ge=0, description="Random extra delay so polls do not fall in step.")
    chunk_max_records: int = Field(5_000, ge=1)
    # The parser reads 64 KiB ahead, so a message holds up to chunk_max_bytes + 64 KiB of source: under 1 MB.
    chunk_max_bytes: int = Field(900_000, ge=1_000, le=960_000, description="Source bytes per raw message.")
    objects_in_flight: int = Field(4, ge=1, le=32, description="Objects published at the same time.")
    whole_object_max_bytes: int = Field(
        4 * 1024 * 1024,
        ge=0,
        le=32 * 1024 * 1024,
        description="Objects up to this size are parsed in one go (fast); larger ones are streamed. 0: always stream.",
    )
    tenant: str | None = Field(
        None,
        pattern=TENANT_PATTERN,
        description="Tenant this source (bucket/prefixes) is bound to: the writer assigns its new meters to it.",
    )
    raw_topic: str = RAW.name
    dlq_topic: str = DLQ.name
    checkpoint_topic: str = CHECKPOINTS.name
    # Leader election: instances sharing a group elect one leader through Kafka (docs/poller.md).
    election: bool = Field(True, description="Elect one active poller through a Kafka consumer group.")
    group_id: str | None = Field(None, description="Election group; default meterflow-poller.<bucket>[.<prefixes>].")
    leader_wait_s: float = Field(30.0, ge=0, description="--once: how long to wait to become the leader.")
    retry_max_s: float = Field(60.0, gt=0, description="Cap of the backoff between failed polls.")
    once_attempts: int = Field(3, ge=1, description="--once: polls tried when S3 or Kafka fail transiently.")
    # S3 event notifications (docs/sources.md): with a queue, objects are published as S3 announces them,
    # by every instance (the queue splits the work), and the elected listing every interval_s only
    # reconciles (a lost notification); set interval_s long then (e.g. 3600).
    notification_queue_url: str | None = Field(None, description="SQS queue URL that the bucket notifies.")
    sqs_endpoint_url: str | None = Field(
        None,
        validation_alias=AliasChoices("POLLER_SQS_ENDPOINT_URL", "SQS_ENDPOINT_URL"),
        description="Default: the S3 endpoint (moto serves both); unset in AWS.",
    )
    notification_wait_s: float = Field(20.0, ge=0, le=20, description="SQS long-poll wait (20 s is the maximum).")
    notification_visibility_s: int = Field(
        300, ge=1, le=43_200, description="How long a received notification stays hidden before it is redelivered."
    )
    # Several sources in one poller (sources.py, docs/sources.md); without the file, the one source above.
    sources_file: Path | None = Field(None, description="YAML/JSON file listing the sources; see docs/sources.md.")
    source_name: str = Field("default", description="The source's name in metrics and logs.")
    kind: Literal["s3", "http"] = "s3"
    http: HttpSettings | None = Field(None, description="An http source's settings (sources file only).")
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(9101, ge=1, le=65535)
    log_level: str = Field("INFO", validation_alias=AliasChoices("POLLER_LOG_LEVEL", "LOG_LEVEL"))

    @field_validator("prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",")] if text else [""]
        return value

    @field_validator("prefixes")
    @classmethod
    def _normalize_prefixes(cls, value: list[str]) -> list[str]:
        return normalize_prefixes(value)

    @model_validator(mode="after")
    def _whole_key_pair(self) -> Settings:
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError(
                "set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their *_FILE), or neither "
                "(boto3's chain then finds the credentials: AWS_PROFILE, web identity, instance roles)"
            )
        return self

    @property
    def election_group(self) -> str:
        return self.group_id or default_group_id(self.bucket, self.prefixes)
