"""The request side of authentication: the ``Authenticator`` (one per worker, on ``app.state``) and the
FastAPI dependency every protected route takes, ``principal: ReadAccess``.

``Require`` declares the two security schemes (HTTP bearer, API key header ``X-API-Key``) so the OpenAPI
document lists them and Swagger's Authorize button works. At request time ``LeanParamsRoute`` calls its
``resolve`` directly (the parameters FastAPI would parse for the schemes are the headers read here anyway).
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from meterflow_api.auth.credentials import credential_of
from meterflow_api.auth.keys import KeyVerifier
from meterflow_api.auth.principal import READ, UNAUTHENTICATED_ADMIN, Principal
from meterflow_api.auth.settings import AuthSettings
from meterflow_api.auth.tokens import JwtVerifier
from meterflow_api.db import Database
from meterflow_api.errors import Forbidden, NotAuthenticated

log = structlog.get_logger("meterflow.api.auth")

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API key (`mf_<prefix>_<secret>`, from `meterflow keys create`) or a JWT of the identity provider.",
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKey", description="An API key (`mf_<prefix>_<secret>`)."
)


class Authenticator:
    """Turns a request's headers into a Principal: API keys against the database, JWTs against the JWKS."""

    def __init__(self, settings: AuthSettings, database: Database) -> None:
        self.enabled = settings.enabled
        self.keys = KeyVerifier(database, cache_s=settings.key_cache_s, last_used_every_s=settings.last_used_every_s)
        self.tokens = JwtVerifier(settings.jwt) if settings.jwt.enabled else None
        if not self.enabled:
            log.warning(
                "AUTHENTICATION IS DISABLED (API_AUTH__ENABLED=false): every request reads every tenant's "
                "meters without a credential. Only for benchmarks; never expose this instance."
            )

    async def authenticate(self, request: Request) -> Principal:
        if not self.enabled:
            return UNAUTHENTICATED_ADMIN
        credential = credential_of(request.headers)
        if credential is None:
            raise NotAuthenticated(
                "authentication required: send 'Authorization: Bearer <API key or JWT>' or 'X-API-Key: <API key>'",
                credential_sent=False,
            )
        if credential.kind == "key":
            return await self.keys.verify(credential.token)
        if self.tokens is None:
            raise NotAuthenticated(
                "not a Meterflow API key (mf_<prefix>_<secret>), and this API accepts no JWTs", credential_sent=True
            )
        return await self.tokens.verify(credential.token)


class Require:
    """A FastAPI dependency: the request's principal, which must hold ``scope`` (else 403)."""

    def __init__(self, scope: str) -> None:
        self.scope = scope

    async def __call__(
        self,
        request: Request,
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
        _api_key: Annotated[str | None, Depends(api_key_scheme)],
    ) -> Principal:
        return await self.resolve(request)

    async def resolve(self, request: Request) -> Principal:
        authenticator: Authenticator = request.app.state.authenticator
        principal = await authenticator.authenticate(request)
        if not principal.allows(self.scope):
            raise Forbidden(f"this credential lacks the {self.scope!r} scope (or a tenant)", scope=self.scope)
        return principal


ReadAccess = Annotated[Principal, Depends(Require(READ))]
