"""The source's tenant binding (docs/security.md): a batch whose messages name a tenant assigns the meters
that have no owner yet to it, in the readings' own transaction, so a meter never has readings and no owner
when its source is bound. A meter that already belongs to a tenant keeps it (never reassigned); those that
belong to another tenant than their message names are counted, for an operator to look into."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from meterflow_contracts import ReadingBatch, ReadingColumns

if TYPE_CHECKING:
    from meterflow_writer.db import Conn
    from meterflow_writer.domain import Row

# Tenants are created on first sight; the name was checked against the tenants' slug rule on decoding.
_CREATE_TENANTS = """
INSERT INTO tenants (name) SELECT DISTINCT name FROM unnest($1::text[]) AS t(name)
ORDER BY name
ON CONFLICT (name) DO NOTHING
"""
# The final SELECT runs on the statement's snapshot: it sees the owners from before this INSERT, so a meter
# assigned now is not counted as owned by another tenant.
_ASSIGN_METERS = """
WITH wanted AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) AS w(muid, tenant, assigned_by)
), assigned AS (
    INSERT INTO meter_tenants (muid, tenant, assigned_by)
    SELECT muid, tenant, assigned_by FROM wanted ORDER BY muid
    ON CONFLICT (muid) DO NOTHING
    RETURNING muid
)
SELECT (SELECT count(*) FROM assigned) AS assigned,
       (SELECT count(*) FROM wanted w JOIN meter_tenants m USING (muid) WHERE m.tenant <> w.tenant) AS elsewhere
"""


@dataclass(frozen=True, slots=True)
class Binding:
    """Who a meter of a bound source should belong to, and the source that says so."""

    tenant: str
    assigned_by: str


@dataclass(frozen=True, slots=True)
class BindingOutcome:
    assigned: int = 0
    owned_elsewhere: int = 0


def bindings_of(messages: Iterable[ReadingBatch | ReadingColumns]) -> dict[UUID, Binding]:
    """Per meter of the messages that name a tenant: the binding of its latest such message."""
    return {m.muid: Binding(m.tenant, f"source:s3://{m.source.bucket}") for m in messages if m.tenant is not None}


def bindings_for(rows: Sequence[Row], bindings: Mapping[UUID, Binding]) -> dict[UUID, Binding]:
    """The bindings of the meters of ``rows`` (a part of a batch that is being split)."""
    if not bindings:
        return {}
    muids = {row[0] for row in rows}
    return {muid: binding for muid, binding in bindings.items() if muid in muids}


async def bind_meters(conn: Conn, bindings: Mapping[UUID, Binding]) -> BindingOutcome:
    """Create the named tenants that are missing and assign the unowned meters (inside the caller's
    transaction)."""
    if not bindings:
        return BindingOutcome()
    await conn.execute(_CREATE_TENANTS, sorted({b.tenant for b in bindings.values()}))
    muids = sorted(bindings)
    row = await conn.fetchrow(
        _ASSIGN_METERS,
        muids,
        [bindings[m].tenant for m in muids],
        [bindings[m].assigned_by for m in muids],
    )
    assert row is not None
    return BindingOutcome(assigned=row["assigned"], owned_elsewhere=row["elsewhere"])
