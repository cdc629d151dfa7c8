"""JWTs of an identity provider on the real API: RS256 and ES256 keys made here with ``cryptography``, served
from a JWKS file and from a JWKS URL (a tiny local HTTP server, to rotate keys); tokens with a wrong key,
issuer, audience or algorithm, expired or not yet valid, are refused; the tenant and admin claims scope."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from integration.api.api_tenants import OTHER_TENANT, TENANT
from meterflow_harness.api_keys import assign_meters

pytestmark = pytest.mark.integration

ISSUER = "https://idp.example.test/realms/utility"
AUDIENCE = "meterflow-api"
IMPORT = "1-0:1.29.0*255"
MINE = uuid.UUID("0000001a-0000-4000-8000-000000000001")
THEIRS = uuid.UUID("0000001b-0000-4000-8000-000000000001")
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk(kid: str, key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        return {**public, "kid": kid, "use": "sig", "alg": "RS256"}
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "ES256"}


def token(key: PrivateKey, kid: str, **claims: Any) -> str:
    now = datetime.now(UTC)
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + timedelta(minutes=5)}
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not None}
    algorithm = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


RSA_KEY, EC_KEY, STRANGER = rsa_key(), ec_key(), rsa_key()


@pytest.fixture(scope="module")
async def loaded(database: str, insert_rows: Inserter) -> str:
    start = datetime(2023, 2, 1, tzinfo=UTC)
    rows = [(m, IMPORT, start + i * timedelta(minutes=15), 1.0, "measured") for m in (MINE, THEIRS) for i in range(8)]
    await insert_rows(database, rows)
    await assign_meters(database, TENANT, [MINE])
    await assign_meters(database, OTHER_TENANT, [THEIRS])
    return database


def jwt_settings(**source: Any) -> dict[str, Any]:
    return {"jwt": {"issuer": ISSUER, "audience": AUDIENCE, "jwks_refetch_min_s": 0, **source}}


@pytest.fixture(scope="module")
async def api(
    loaded: str, client_factory: ClientFactory, tmp_path_factory: pytest.TempPathFactory
) -> httpx.AsyncClient:
    jwks = tmp_path_factory.mktemp("jwks") / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk("rsa-1", RSA_KEY), jwk("ec-1", EC_KEY)]}))
    return await client_factory(loaded, anonymous=True, auth=jwt_settings(jwks_file=str(jwks)))


async def test_valid_tokens_read_their_tenants_meters_only(api: httpx.AsyncClient) -> None:
    for key, kid in ((RSA_KEY, "rsa-1"), (EC_KEY, "ec-1")):
        headers = bearer(token(key, kid, tenant=TENANT))
        mine = await api.get(f"/v1/meters/{MINE}/series", headers=headers)
        assert mine.status_code == 200, mine.text
        assert (await api.get(f"/v1/meters/{THEIRS}/series", headers=headers)).status_code == 404
        listed = (await api.get("/v1/meters", headers=headers)).json()["meters"]
        assert [m["muid"] for m in listed] == [str(MINE)]


async def test_admin_claim_sees_every_tenant(api: httpx.AsyncClient) -> None:
    for claim in ({"scope": "openid meterflow:admin"}, {"scope": ["meterflow:admin"]}):
        headers = bearer(token(RSA_KEY, "rsa-1", **claim))
        assert (await api.get(f"/v1/meters/{THEIRS}/stats", headers=headers)).status_code == 200
        listed = (await api.get("/v1/meters", headers=headers)).json()["meters"]
        assert {m["muid"] for m in listed} == {str(MINE), str(THEIRS)}


async def test_token_without_tenant_or_admin_is_forbidden(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/meters", headers=bearer(token(RSA_KEY, "rsa-1", scope="openid")))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize(
    "case",
    [
        "wrong key",
        "unknown kid",
        "issuer",
        "audience",
        "expired",
        "not yet valid",
        "no exp",
        "hs256",
        "none",
        "garbage",
    ],
)
async def test_invalid_tokens_are_refused(api: httpx.AsyncClient, case: str) -> None:
    now = datetime.now(UTC)
    value = {
        "wrong key": lambda: token(STRANGER, "rsa-1", tenant=TENANT),
        "unknown kid": lambda: token(STRANGER, "rsa-9", tenant=TENANT),
        "issuer": lambda: token(RSA_KEY, "rsa-1", tenant=TENANT, iss="https://evil.example.test"),
        "audience": lambda: token(RSA_KEY, "rsa-1", tenant=TENANT, aud="another-api"),
        "expired": lambda: token(RSA_KEY, "rsa-1", tenant=TENANT, exp=now - timedelta(minutes=5)),
        "not yet valid": lambda: token(RSA_KEY, "rsa-1", tenant=TENANT, nbf=now + timedelta(minutes=5)),
        "no exp": lambda: token(RSA_KEY, "rsa-1", tenant=TENANT, exp=None),
        "hs256": lambda: jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "tenant": TENANT, "exp": now + timedelta(minutes=5)},
            "a-shared-secret-nobody-configured-0123456789",
            algorithm="HS256",
            headers={"kid": "rsa-1"},
        ),
        "none": lambda: jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "tenant": TENANT}, None, algorithm="none", headers={"kid": "rsa-1"}
        ),
        "garbage": lambda: "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln",
    }[case]()
    response = await api.get(f"/v1/meters/{MINE}/series", headers=bearer(value))
    assert response.status_code == 401, (case, response.text)
    assert response.headers["www-authenticate"] == 'Bearer realm="meterflow", error="invalid_token"'


async def test_leeway_accepts_small_clock_skew(api: httpx.AsyncClient) -> None:
    skewed = token(RSA_KEY, "rsa-1", tenant=TENANT, exp=datetime.now(UTC) - timedelta(seconds=5))
    assert (await api.get("/v1/meters", headers=bearer(skewed))).status_code == 200


class _Jwks:
    """A JWKS served over HTTP on a free port; ``keys`` can be replaced while it runs (key rotation)."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": outer.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"


@pytest.fixture
def jwks_server() -> Iterator[_Jwks]:
    served = _Jwks()
    thread = threading.Thread(target=served.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.server.shutdown()
        thread.join()


async def test_jwks_url_key_rotation(loaded: str, client_factory: ClientFactory, jwks_server: _Jwks) -> None:
    old, new = rsa_key(), ec_key()
    jwks_server.keys = [jwk("2024-old", old)]
    api = await client_factory(loaded, anonymous=True, auth=jwt_settings(jwks_url=jwks_server.url))
    assert (await api.get("/v1/meters", headers=bearer(token(old, "2024-old", tenant=TENANT)))).status_code == 200
    assert (await api.get("/v1/meters", headers=bearer(token(old, "2024-old", tenant=TENANT)))).status_code == 200
    assert jwks_server.fetches == 1  # cached
    # The provider rotates: the new key is published, the old one withdrawn.
    jwks_server.keys = [jwk("2025-new", new)]
    fresh = await api.get("/v1/meters", headers=bearer(token(new, "2025-new", tenant=TENANT)))
    assert fresh.status_code == 200, fresh.text
    assert jwks_server.fetches == 2  # the unknown kid triggered one refetch
    stale = await api.get("/v1/meters", headers=bearer(token(old, "2024-old", tenant=TENANT)))
    assert stale.status_code == 401


async def test_jwks_unreachable_is_503_not_a_refusal(loaded: str, client_factory: ClientFactory) -> None:
    down = "http://127.0.0.1:1/jwks.json"
    api = await client_factory(loaded, anonymous=True, auth=jwt_settings(jwks_url=down))
    response = await api.get("/v1/meters", headers=bearer(token(RSA_KEY, "rsa-1", tenant=TENANT)))
    # The token may well be valid: the client should retry, not drop it.
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert response.json() == {"detail": "the identity provider's keys could not be fetched; retry shortly"}


def test_jwt_settings_need_issuer_and_audience(tmp_path: Path) -> None:
    from meterflow_api.auth import JwtSettings
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="ISSUER and API_AUTH__JWT__AUDIENCE are required"):
        JwtSettings(jwks_file=tmp_path / "jwks.json")
