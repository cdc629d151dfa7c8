"""Which credential a request carries: ``Authorization: Bearer <key or JWT>`` or ``X-API-Key: <key>``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

from meterflow_schema.tenancy import key_prefix

from meterflow_api.errors import NotAuthenticated

API_KEY_HEADER: Final = "x-api-key"


@dataclass(frozen=True, slots=True)
class Credential:
    kind: Literal["key", "jwt"]
    token: str


def credential_of(headers: Mapping[str, str]) -> Credential | None:
    """The request's credential (Authorization first), None when it sends none; NotAuthenticated for an
    Authorization header of another scheme or without a token."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise NotAuthenticated(
                "send 'Authorization: Bearer <API key or JWT>' or 'X-API-Key: <API key>'", credential_sent=True
            )
        return Credential("key" if key_prefix(token) is not None else "jwt", token)
    key = headers.get(API_KEY_HEADER)
    if key is not None:
        if key_prefix(key.strip()) is None:
            raise NotAuthenticated("X-API-Key is not a Meterflow API key (mf_<prefix>_<secret>)", credential_sent=True)
        return Credential("key", key.strip())
    return None
