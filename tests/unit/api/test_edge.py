"""The edge of the query API without a database: its settings, the credential hash, the header rules, and the
per-IP limit of failed authentications on a tiny app that answers 401 (the API's own 401s come from its
authentication)."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest
from fastapi import FastAPI, Request
from meterflow_api.edge.config import CorsSettings, LimitsSettings
from meterflow_api.edge.headers import SecurityHeadersMiddleware, with_security_headers
from meterflow_api.edge.limits import RateLimiter, RateLimitMiddleware, credential_key
from pydantic import ValidationError
from starlette.responses import JSONResponse

SECRET = "mf_live_7Hc2b1Q9sV0yXw"


def test_cors_origins_come_comma_separated_and_are_checked() -> None:
    assert CorsSettings(allow_origins="https://a.example, http://b.example:8080/").allow_origins == [  # type: ignore[arg-type]
        "https://a.example",
        "http://b.example:8080",
    ]
    assert CorsSettings().allow_origins == []
    with pytest.raises(ValidationError, match="scheme://host"):
        CorsSettings(allow_origins=["https://a.example/app"])
    with pytest.raises(ValidationError, match="any site"):
        CorsSettings(allow_origins=["*"])
    assert CorsSettings(allow_origins=["*"], allow_credentials=False).allow_origins == ["*"]


def test_rates_are_checked_when_read_and_can_be_off() -> None:
    limits = LimitsSettings(per_credential="20/second;1000/hour", failed_auth_per_ip="")
    assert [str(rate) for rate in limits.credential_rates] == ["20 per 1 second", "1000 per 1 hour"]
    assert limits.failed_auth_rates == []
    assert LimitsSettings(per_credential=None).credential_rates == []
    with pytest.raises(ValidationError, match="not a rate"):
        LimitsSettings(per_credential="lots")
    with pytest.raises(ValidationError, match="async storage"):
        LimitsSettings(storage_uri="memory://")


def test_the_credential_is_counted_under_its_hash_only() -> None:
    def scope(*headers: tuple[bytes, bytes]) -> dict[str, object]:
        return {"headers": list(headers)}

    bearer = credential_key(scope((b"authorization", f"Bearer {SECRET}".encode()), (b"accept", b"*/*")))
    api_key = credential_key(scope((b"x-api-key", SECRET.encode())))
    assert bearer == hashlib.sha256(f"Bearer {SECRET}".encode()).hexdigest()
    assert api_key is not None and SECRET not in api_key and api_key != bearer
    assert credential_key(scope((b"accept", b"*/*"))) is None


def test_data_responses_keep_their_own_cache_control_and_vary() -> None:
    own = with_security_headers([(b"cache-control", b"private, no-cache"), (b"vary", b"Origin")], data=True)
    assert (b"cache-control", b"private, no-cache") in own and (b"cache-control", b"no-store") not in own
    assert (b"vary", b"Origin, Authorization, X-API-Key") in own
    assert (b"x-frame-options", b"DENY") in own
    plain = with_security_headers([(b"content-type", b"text/html")], data=False)
    assert {name for name, _ in plain} == {
        b"content-type",
        b"x-content-type-options",
        b"x-frame-options",
        b"content-security-policy",
        b"referrer-policy",
    }


async def test_an_unhandled_error_answers_500_with_the_security_headers() -> None:
    app = FastAPI()

    @app.get("/v1/broken")
    async def broken() -> JSONResponse:
        raise RuntimeError("bug")

    app.add_middleware(SecurityHeadersMiddleware)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        response = await client.get("/v1/broken")
    assert response.status_code == 500 and response.json() == {"detail": "internal error"}
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"


def app_answering_401(calls: list[str]) -> FastAPI:
    """Answers 401 unless the request carries X-API-Key: good; counts the requests that reach it."""
    app = FastAPI()

    @app.get("/v1/meters")
    async def meters(request: Request) -> JSONResponse:
        calls.append(request.client.host if request.client else "")
        if request.headers.get("x-api-key") != "good":
            return JSONResponse({"detail": "missing or invalid credential"}, status_code=401)
        return JSONResponse({"meters": []})

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return app


def client_from(app: object, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://api")


async def test_an_ip_with_too_many_401s_gets_429_before_any_work_then_recovers() -> None:
    calls: list[str] = []
    limited = SecurityHeadersMiddleware(
        RateLimitMiddleware(
            app_answering_401(calls), LimitsSettings(per_credential=None, failed_auth_per_ip="3/4 seconds")
        )
    )
    async with client_from(limited, "203.0.113.7") as attacker, client_from(limited, "198.51.100.2") as other:
        assert [(await attacker.get("/v1/meters")).status_code for _ in range(3)] == [401, 401, 401]
        refused = await attacker.get("/v1/meters", headers={"X-API-Key": "good"})
        assert refused.status_code == 429
        assert "too many failed authentications" in refused.json()["detail"]
        assert refused.headers["x-content-type-options"] == "nosniff"
        wait = int(refused.headers["retry-after"])
        assert 1 <= wait <= 4
        assert calls == ["203.0.113.7"] * 3  # the refused request never reached the app
        assert (await other.get("/v1/meters", headers={"X-API-Key": "good"})).status_code == 200
        assert (await attacker.get("/healthz")).status_code == 200
        await asyncio.sleep(wait)
        assert (await attacker.get("/v1/meters", headers={"X-API-Key": "good"})).status_code == 200


async def test_successful_answers_do_not_count_as_failures() -> None:
    calls: list[str] = []
    limited = RateLimitMiddleware(
        app_answering_401(calls), LimitsSettings(per_credential=None, failed_auth_per_ip="2/minute")
    )
    async with client_from(limited, "192.0.2.1") as client:
        for _ in range(5):
            assert (await client.get("/v1/meters", headers={"X-API-Key": "good"})).status_code == 200


async def test_the_limiter_names_the_exhausted_rate() -> None:
    limiter = RateLimiter(LimitsSettings(per_credential="2/minute;100/hour", failed_auth_per_ip="1/minute"))
    assert await limiter.take_credential("k") is None
    assert await limiter.take_credential("k") is None
    exhausted = await limiter.take_credential("k")
    assert exhausted is not None and str(exhausted[0]) == "2 per 1 minute" and 1 <= exhausted[1] <= 60
    assert await limiter.take_credential("another") is None
    assert await limiter.failed_auth_block("192.0.2.9") is None
    await limiter.count_failed_auth("192.0.2.9")
    blocked = await limiter.failed_auth_block("192.0.2.9")
    assert blocked is not None and str(blocked[0]) == "1 per 1 minute"
