"""The query API's exceptions: what a request can get wrong, without HTTP in it.

The handlers in main.py map each type to its status code and body; the domain only says what went wrong::

    ApiError                  a request the API refuses; the message says what to fix
    ├── InvalidRequest        one or more parameters are invalid (HTTP 422); ``problems`` lists each
    ├── NotFound              an unknown meter, or the meter has no such channel, or another tenant's (HTTP 404)
    ├── NotAuthenticated      no credential, or one that is unknown, revoked, expired or invalid (HTTP 401)
    ├── Forbidden             a valid credential without the scope the route needs (HTTP 403)
    └── AuthUnavailable       the identity provider's keys cannot be fetched: retry (HTTP 503)

    ParamError (ValueError)   one parser's complaint about one value; ``Problems`` (domain.params) collects
                              them with the parameter's location into one InvalidRequest

Database failures are not wrapped: main.py maps asyncpg's and the OS's exceptions to 503 directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Loc = tuple[str, ...]


class ApiError(Exception):
    """A request the API refuses, with a message that says what to fix."""


class NotFound(ApiError):
    """An unknown meter, or the meter has no such channel. Another tenant's meter is unknown too."""


class NotAuthenticated(ApiError):
    """No usable credential; ``credential_sent`` tells a missing one from a refused one."""

    def __init__(self, message: str, *, credential_sent: bool) -> None:
        super().__init__(message)
        self.credential_sent = credential_sent


class Forbidden(ApiError):
    """The credential is valid but lacks ``scope``."""

    def __init__(self, message: str, *, scope: str) -> None:
        super().__init__(message)
        self.scope = scope


@dataclass(frozen=True, slots=True)
class Problem:
    """One invalid parameter: where it is (``("query", "tz")``) and how to fix it."""

    loc: Loc
    msg: str


class InvalidRequest(ApiError):
    """One or more parameters are invalid; ``problems`` lists each with its location."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(f"{'.'.join(p.loc)}: {p.msg}" for p in problems))
        self.problems = list(problems)

    @classmethod
    def one(cls, loc: Loc, msg: str) -> InvalidRequest:
        return cls([Problem(loc, msg)])


class AuthUnavailable(ApiError):
    """A credential cannot be verified now (the JWKS is unreachable); it may be valid."""


class ParamError(ValueError):
    """Raised by a single parser; the caller knows which parameter it was."""
