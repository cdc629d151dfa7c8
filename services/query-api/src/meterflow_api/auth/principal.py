"""Who is asking: a principal, the tenant whose meters it may read and its scopes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

READ: Final = "read"
ADMIN: Final = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``tenant`` None: every tenant (admin scope, or authentication disabled)."""

    subject: str  # "key:<prefix>" or "jwt:<sub>": what logs and the audit log name
    tenant: str | None
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        """Admin includes read."""
        return scope in self.scopes or ADMIN in self.scopes


def principal_of(subject: str, tenant: str | None, scopes: frozenset[str]) -> Principal:
    """Admin scope sees every tenant, whatever tenant the credential was issued to."""
    return Principal(subject, None if ADMIN in scopes else tenant, scopes)


UNAUTHENTICATED_ADMIN: Final = Principal("anonymous (authentication disabled)", None, frozenset({READ, ADMIN}))
