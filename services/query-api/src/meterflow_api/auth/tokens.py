"""JWTs from the company's identity provider (OIDC), verified with PyJWT.

Signature (RS256/ES256, keys from a JWKS file or URL), issuer, audience, expiry and not-before (with a small
leeway) are checked by ``jwt.decode``; the tenant comes from a configurable claim and the admin scope from a
configurable claim value. The JWKS is fetched off the event loop and kept ``jwks_cache_s``; a token signed
with a key id the cached set does not hold triggers a refetch (key rotation), at most every
``jwks_refetch_min_s``, so a stream of forged kids cannot turn into a stream of fetches.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import jwt
import structlog

from meterflow_api.auth.principal import ADMIN, READ, Principal, principal_of
from meterflow_api.auth.settings import JwtSettings
from meterflow_api.errors import AuthUnavailable, NotAuthenticated

log = structlog.get_logger("meterflow.api.auth")


class JwksKeys:
    """The signing keys of the provider, by kid, from a JWKS URL or file."""

    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self._keys: dict[str | None, jwt.PyJWK] = {}
        self._fresh_until = 0.0
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._client = (
            jwt.PyJWKClient(settings.jwks_url, cache_jwk_set=False) if settings.jwks_url is not None else None
        )

    async def key_for(self, kid: str | None) -> jwt.PyJWK:
        if time.monotonic() >= self._fresh_until:
            await self._reload(force=False)
        key = self._find(kid)
        if key is None and time.monotonic() - self._fetched_at >= self.settings.jwks_refetch_min_s:
            await self._reload(force=True)
            key = self._find(kid)
        if key is None:
            raise NotAuthenticated(f"the token's signing key {kid!r} is not in the issuer's JWKS", credential_sent=True)
        return key

    def _find(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _reload(self, *, force: bool) -> None:
        async with self._lock:
            if not force and time.monotonic() < self._fresh_until:
                return  # another request reloaded meanwhile
            data = await asyncio.to_thread(self._fetch)
            keys = jwt.PyJWKSet.from_dict(data).keys
            self._keys = {key.key_id: key for key in keys}
            now = time.monotonic()
            self._fetched_at = now
            self._fresh_until = now + self.settings.jwks_cache_s

    def _fetch(self) -> dict[str, Any]:
        if self._client is not None:
            data: dict[str, Any] = self._client.fetch_data()
            return data
        assert self.settings.jwks_file is not None
        loaded: dict[str, Any] = json.loads(self.settings.jwks_file.read_bytes())
        return loaded


class JwtVerifier:
    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self.keys = JwksKeys(settings)

    async def verify(self, token: str) -> Principal:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in s.algorithms:
                raise NotAuthenticated(
                    f"the token's algorithm must be one of {', '.join(s.algorithms)}", credential_sent=True
                )
            key = await self.keys.key_for(header.get("kid"))
            claims = jwt.decode(
                token,
                key,
                algorithms=s.algorithms,
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, OSError, json.JSONDecodeError) as error:
            log.warning("JWKS unavailable", error=str(error))
            raise AuthUnavailable("the identity provider's keys could not be fetched; retry shortly") from None
        except jwt.InvalidTokenError as error:
            raise NotAuthenticated(f"invalid token: {error}", credential_sent=True) from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        s = self.settings
        granted = claims.get(s.admin_claim)
        values = granted.split() if isinstance(granted, str) else granted if isinstance(granted, list) else []
        tenant = claims.get(s.tenant_claim)
        scopes = frozenset({READ, ADMIN} if s.admin_value in values else {READ} if isinstance(tenant, str) else ())
        subject = f"jwt:{claims.get('sub', '?')}"
        return principal_of(subject, tenant if isinstance(tenant, str) else None, scopes)
