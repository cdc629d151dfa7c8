"""The pure parts of authentication: the key format, which credential a request carries, principals."""

from __future__ import annotations

import re

import pytest
from meterflow_api.auth.credentials import credential_of
from meterflow_api.auth.principal import principal_of
from meterflow_api.auth.settings import JwtSettings
from meterflow_api.auth.tokens import JwtVerifier
from meterflow_api.errors import NotAuthenticated
from meterflow_schema.tenancy import key_hash, key_prefix, new_key


def test_keys_are_random_prefixed_and_hashed_whole() -> None:
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    for key, prefix in keys:
        assert re.fullmatch(r"mf_[0-9a-f]{12}_[A-Za-z0-9_-]{43}", key)
        assert key_prefix(key) == prefix
        assert len(key_hash(key)) == 32 and key_hash(key) != key_hash(key + "x")


@pytest.mark.parametrize(
    "text", ["", "mf_", "mf_0123456789ab", "mf_0123456789ab_", "mf_0123456789AB_x", "xx_0123456789ab_x", "eyJ.a.b"]
)
def test_what_is_not_a_key(text: str) -> None:
    assert key_prefix(text) is None


def test_credentials_from_headers() -> None:
    key, _ = new_key()
    assert credential_of({}) is None
    assert credential_of({"authorization": f"Bearer {key}"}) == credential_of({"x-api-key": f" {key} "})
    assert credential_of({"authorization": f"bearer {key}"}).kind == "key"
    assert credential_of({"authorization": "Bearer a.b.c"}).kind == "jwt"
    # Authorization wins over X-API-Key.
    assert credential_of({"authorization": "Bearer a.b.c", "x-api-key": key}).kind == "jwt"
    for headers in ({"authorization": "Basic dTpw"}, {"authorization": "Bearer "}, {"x-api-key": "a.b.c"}):
        with pytest.raises(NotAuthenticated) as refused:
            credential_of(headers)
        assert refused.value.credential_sent


def test_admin_sees_every_tenant() -> None:
    assert principal_of("key:a", "acme", frozenset({"read"})).tenant == "acme"
    admin = principal_of("key:b", "acme", frozenset({"read", "admin"}))
    assert admin.tenant is None and admin.allows("read")
    assert not principal_of("key:c", "acme", frozenset()).allows("read")


def test_jwt_claims_to_principal() -> None:
    verifier = JwtVerifier(JwtSettings(jwks_url="http://idp/jwks", issuer="i", audience="a", admin_claim="roles"))
    tenant = verifier._principal({"sub": "u", "tenant": "acme"})
    assert (tenant.tenant, tenant.scopes, tenant.subject) == ("acme", frozenset({"read"}), "jwt:u")
    admin = verifier._principal({"sub": "u", "tenant": "acme", "roles": ["x", "meterflow:admin"]})
    assert admin.tenant is None and admin.allows("admin")
    nobody = verifier._principal({"sub": "u", "tenant": 7, "roles": "meterflow:admin-not"})
    assert not nobody.allows("read")
