"""The ``API_AUTH__...`` settings group (e.g. ``API_AUTH__JWT__ISSUER``, ``API_AUTH__KEY_CACHE_S``)."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, Field, model_validator


class JwtSettings(BaseModel):
    """JWTs of the company's identity provider (OIDC). Off while neither jwks_url nor jwks_file is set."""

    jwks_url: str | None = Field(None, description="The provider's JWKS URL (its jwks_uri).")
    jwks_file: Path | None = Field(None, description="A JWKS file instead of a URL (re-read when it changes).")
    issuer: str | None = Field(None, description="Required iss (mandatory once a JWKS is set).")
    audience: str | None = Field(None, description="Required aud (mandatory once a JWKS is set).")
    algorithms: list[str] = Field(["RS256", "ES256"], description="Accepted signature algorithms.")
    leeway_s: float = Field(30.0, ge=0, description="Clock skew tolerated on exp, nbf and iat.")
    tenant_claim: str = Field("tenant", description="Claim holding the caller's tenant.")
    admin_claim: str = Field("scope", description="Claim (space-separated string or list) checked for admin_value.")
    admin_value: str = Field("meterflow:admin", description="Value of admin_claim granting the admin scope.")
    jwks_cache_s: float = Field(300.0, gt=0, description="Seconds a fetched JWKS is used before refetching.")
    jwks_refetch_min_s: float = Field(
        5.0, ge=0, description="An unknown kid refetches the JWKS (key rotation) at most this often."
    )

    @property
    def enabled(self) -> bool:
        return self.jwks_url is not None or self.jwks_file is not None

    @model_validator(mode="after")
    def _issuer_and_audience_when_enabled(self) -> Self:
        if self.enabled and (not self.issuer or not self.audience):
            raise ValueError("API_AUTH__JWT__ISSUER and API_AUTH__JWT__AUDIENCE are required with a JWKS")
        return self


class AuthSettings(BaseModel):
    enabled: bool = Field(
        True,
        description=(
            "false: every request is served as admin without a credential. Only for benchmarks comparing "
            "the cost of authentication; logged as a warning at start."
        ),
    )
    key_cache_s: float = Field(
        5.0,
        ge=0,
        description=(
            "Seconds a verified (or refused) API key is remembered per worker: a revocation or expiry takes "
            "effect in every worker within this time. 0: look up every request."
        ),
    )
    last_used_every_s: float = Field(
        60.0, ge=0, description="api_keys.last_used_at is written at most this often per key and worker."
    )
    jwt: JwtSettings = JwtSettings()
