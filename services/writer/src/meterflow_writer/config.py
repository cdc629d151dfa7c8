"""Writer settings (env prefix WRITER_, Kafka under WRITER_KAFKA__*; also reads KAFKA_BOOTSTRAP_SERVERS and
DATABASE_URL). Durations are in seconds (``_s``)."""

from __future__ import annotations

from meterflow_contracts import DLQ, READINGS_V2
from meterflow_kit.settings import ServiceSettings
from pydantic import AliasChoices, Field, PostgresDsn
from pydantic_settings import SettingsConfigDict


class Settings(ServiceSettings):
    """``kafka`` (bootstrap servers, session timeout: how soon a crashed writer's partitions move) comes
    from ServiceSettings."""

    model_config = SettingsConfigDict(env_prefix="WRITER_")

    # No default: the DSN carries a password. `make` and the test fixtures pass the local one. Left out of
    # the settings' repr, so a logged or raised settings object never shows the password.
    database_url: PostgresDsn = Field(validation_alias=AliasChoices("WRITER_DATABASE_URL", "DATABASE_URL"), repr=False)
    group_id: str = "meterflow-writer"
    # Messages of either contract version are read, by the version each carries (columns.decode_message).
    readings_topic: str = READINGS_V2.name
    dlq_topic: str = DLQ.name
    batch_max_rows: int = Field(50_000, ge=1, description="Flush once this many readings are buffered.")
    batch_max_s: float = Field(0.5, gt=0, description="Flush at the latest this long after the first.")
    write_concurrency: int = Field(
        2,
        ge=1,
        le=8,
        description="Transactions in flight at once; batches that may share a key are written one after the other.",
    )
    retry_max_s: float = Field(30.0, gt=0, description="Cap of the backoff while PostgreSQL is down.")
    db_timeout_s: float = Field(120.0, gt=0, description="Longest a single statement may run.")
    optimistic_copy: bool = Field(
        True,
        description="COPY straight into readings while no key exists yet; the staging upsert on a conflict.",
    )
    refresh_aggregates: bool = Field(
        True,
        description="On TimescaleDB, refresh the continuous aggregates over the buckets writes touched.",
    )
    refresh_interval_s: float = Field(
        1.0, gt=0, description="At most one aggregate refresh round this often (writes in between coalesce)."
    )
    lag_interval_s: float = Field(5.0, gt=0, description="How often the group's time lag is read from the broker.")
    completeness_interval_s: float = Field(
        60.0, gt=0, description="How often the fleet's completeness is read from the channels table."
    )
    ops_host: str = "127.0.0.1"
    ops_port: int = Field(9103, ge=1, le=65535)
    log_level: str = "INFO"
