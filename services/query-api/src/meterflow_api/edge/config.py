"""Settings of the public surface: CORS (``API_CORS__*``) and rate limits and request caps (``API_LIMITS__*``).

Nested groups of ``meterflow_api.config.Settings``; pure pydantic, no import of the app, so the settings module
can use them without cycles.
"""

from __future__ import annotations

from typing import Annotated, Any

from limits import RateLimitItem, parse_many
from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import NoDecode

# Headers a browser may send cross-origin (besides the CORS-safelisted ones) and may read from our answers.
CORS_REQUEST_HEADERS = ("Authorization", "X-API-Key", "If-None-Match")
CORS_EXPOSED_HEADERS = ("X-Next-Cursor", "Retry-After", "ETag")


class CorsSettings(BaseModel):
    """Cross-origin access for browser apps hosted elsewhere than the API (the API's own pages need none)."""

    allow_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description=(
            "Origins (scheme://host[:port]) whose pages may call the API, comma-separated, e.g. "
            "'https://portal.example.com,https://admin.example.com'. Empty (the default): no cross-origin access."
        ),
    )
    allow_credentials: bool = Field(
        True, description="Let cross-origin pages send credentials (the Authorization header, cookies)."
    )
    max_age_s: int = Field(600, ge=0, description="Seconds a browser may cache a preflight answer.")

    @field_validator("allow_origins", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("allow_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        cleaned = [origin.rstrip("/") for origin in origins]  # browsers send the origin without a slash
        for origin in cleaned:
            if origin != "*" and (not origin.startswith(("http://", "https://")) or origin.count("/") != 2):
                raise ValueError(f"{origin!r} is not an origin: write scheme://host[:port] without a path")
        return cleaned

    @model_validator(mode="after")
    def _no_wildcard_with_credentials(self) -> CorsSettings:
        if "*" in self.allow_origins and self.allow_credentials:
            raise ValueError(
                "allow_origins '*' with allow_credentials would let any site read a user's data: "
                "list the origins, or set API_CORS__ALLOW_CREDENTIALS=false"
            )
        return self


def _rate(text: str | None) -> list[RateLimitItem]:
    return [] if text is None or not text.strip() else parse_many(text)


class LimitsSettings(BaseModel):
    """Rate limits (per worker process, see docs/api.md) and request caps."""

    per_credential: str | None = Field(
        "1200/minute",
        description=(
            "Requests per credential (the Authorization or X-API-Key value, kept only as a hash), in the "
            "notation of the limits package: '1200/minute', '20/second;1000/hour'. Empty: no limit."
        ),
    )
    failed_auth_per_ip: str | None = Field(
        "20/minute",
        description=(
            "Answers 401 per client IP; past it the IP gets 429 before any work until the window ends. Empty: no limit."
        ),
    )
    storage_uri: str = Field(
        "async+memory://",
        description=(
            "Where the counts live (a limits storage URI). The default counts per worker process; an "
            "async+redis:// URI (limits[async-redis]) shares them between workers and replicas."
        ),
    )
    max_measurement_days: int = Field(
        366,
        ge=1,
        description="Longest start..stop of /meterdata/measurement (grouped over the whole range): 422 past it.",
    )
    max_url_bytes: int = Field(4096, ge=256, description="Longest request target (path and query string): 414 past it.")
    max_header_bytes: int = Field(16384, ge=1024, description="Request header names and values at most: 431 past it.")

    @field_validator("per_credential", "failed_auth_per_ip")
    @classmethod
    def _parses(cls, text: str | None) -> str | None:
        try:
            _rate(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a rate: write e.g. '1200/minute' or '20/second;1000/hour'") from None
        return text

    @field_validator("storage_uri")
    @classmethod
    def _async_storage(cls, uri: str) -> str:
        if not uri.startswith("async+"):
            raise ValueError(
                f"{uri!r}: the API counts in an async storage, write e.g. async+memory:// or async+redis://"
            )
        return uri

    @property
    def credential_rates(self) -> list[RateLimitItem]:
        return _rate(self.per_credential)

    @property
    def failed_auth_rates(self) -> list[RateLimitItem]:
        return _rate(self.failed_auth_per_ip)
