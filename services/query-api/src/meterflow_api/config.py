"""Query API settings (env prefix API_; the database also from DATABASE_URL; any variable also as
``<NAME>_FILE``, the path of a file holding it)."""

from __future__ import annotations

from pathlib import Path

from meterflow_kit.settings import SecretFilesEnv
from pydantic import AliasChoices, BaseModel, Field, PostgresDsn, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from meterflow_api.auth.settings import AuthSettings
from meterflow_api.domain.holidays import parse_region
from meterflow_api.edge.config import CorsSettings, LimitsSettings


class TariffSettings(BaseModel):
    """API_TARIFFS__*: where tariffs come from besides the tariffs tables (docs/api.md, "Tariffs")."""

    file: Path | None = Field(
        None,
        description=(
            "YAML file of tariffs (the shape of the shipped meterflow_api/tariffs.yaml); unset: the shipped one. "
            "Tariffs of the tariffs table are added to the file's and win on a name both define."
        ),
    )
    cache_s: float = Field(5.0, ge=0, description="Seconds the tariffs table's rows are reused (0: read per request).")

    @field_validator("file")
    @classmethod
    def _usable(cls, path: Path | None) -> Path | None:
        """A file that cannot be read or holds an unusable tariff stops the API at start, naming the problem."""
        if path is not None:
            from meterflow_api.tariff_store import file_tariffs  # here: tariff_store imports this module

            file_tariffs(path)  # raises TariffError, a ValueError: pydantic reports it as this setting's error
        return path


class InsightsSettings(BaseModel):
    """API_INSIGHTS__*: defaults of day types, insights and HTTP caching."""

    holiday_region: str = Field(
        "CH-ZH",
        description=(
            "Country and optional subdivision (ISO 3166, e.g. CH, CH-ZH, DE-BY) whose public holidays "
            "day_type=holiday means when a request does not pass holidays=."
        ),
    )

    @field_validator("holiday_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        return parse_region(value).code


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="API_", env_nested_delimiter="__", extra="ignore", populate_by_name=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Any variable may come as <NAME>_FILE (a mounted secret), e.g. API_DATABASE_URL_FILE.
        return init_settings, env_settings, SecretFilesEnv(settings_cls), dotenv_settings, file_secret_settings

    # No default: the DSN carries a password. `make` and the test fixtures pass the local one.
    database_url: PostgresDsn = Field(validation_alias=AliasChoices("API_DATABASE_URL", "DATABASE_URL"), repr=False)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, description="uvicorn worker processes (each has its own pool).")
    pool_min_size: int = Field(1, ge=0, description="Connections kept open per worker once connected.")
    pool_max_size: int = Field(10, ge=1, description="Connections at most per worker.")
    pool_acquire_timeout_s: float = Field(5.0, gt=0, description="Wait for a free connection, then 503.")
    statement_timeout_s: float = Field(
        15.0, ge=0, description="PostgreSQL statement_timeout per query (0: server default)."
    )
    statement_cache_size: int = Field(
        100, ge=0, description="asyncpg prepared-statement cache; 0 behind pgbouncer (transaction mode)."
    )
    channel_cache_s: float = Field(
        2.0,
        ge=0,
        description=(
            "Seconds a meter's channel list (with first/last interval) is reused: saves a query per request; "
            "a new meter or channel, or the newest readings when end is omitted, may show up this much later. "
            "0: off."
        ),
    )
    response_cache_mb: float = Field(
        32.0,
        ge=0,
        description=(
            "Megabytes of answer bodies each worker keeps by ETag (series, profile, stats, insights, overview, "
            "fleet): the same question again, while the meter's data is unchanged, is answered without the "
            "aggregates (it counts in the worker's memory: the chart's 256 MiB limit leaves room). 0: off."
        ),
    )
    response_cache_s: float = Field(
        60.0,
        gt=0,
        description=(
            "Seconds an answer stays in the response cache at most. Every write of the writer changes the "
            "ETag at once; this bounds how long a change made around the writer (SQL by hand) goes unseen."
        ),
    )
    search_path: str | None = Field(
        None,
        description=(
            "Schema search path set on every connection, for a readings table outside the default schema "
            "(e.g. 'meterflow, public'); unset: the role's default."
        ),
    )
    series_from_aggregates: bool = Field(
        True,
        description=(
            "Sum series whose bucket bounds are whole UTC hours (1h, 1d, 1w, 1mo in zones with whole-hour "
            "offsets) from the readings_hourly rollup instead of the raw rows: a quarter of the rows for "
            "15-minute data. On plain PostgreSQL the rollup is kept current in the same transaction as the "
            "readings; on TimescaleDB it is a continuous aggregate with real-time aggregation, where a late or "
            "corrected reading older than its watermark shows after the next refresh (the writer refreshes "
            "the hours it touched). false: always the raw rows."
        ),
    )
    access_log: bool = Field(False, description="Log every request (metrics cover the rest).")
    log_level: str = "INFO"
    # Nested groups, one per concern (API_AUTH__..., ...): keep new ones at the end.
    auth: AuthSettings = Field(AuthSettings(), description="Authentication: API keys and JWTs (auth/settings.py).")
    cors: CorsSettings = Field(default_factory=CorsSettings, description="API_CORS__*: cross-origin access.")
    limits: LimitsSettings = Field(
        default_factory=LimitsSettings, description="API_LIMITS__*: rate limits and request caps."
    )
    tariffs: TariffSettings = Field(default_factory=TariffSettings)
    insights: InsightsSettings = Field(default_factory=InsightsSettings)
