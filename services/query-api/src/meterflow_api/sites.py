"""Sites: a tenant's channels grouped by role (grid import, grid export, PV production, sub-meters), their
energy balance and their net cost.

``resolve_site`` and ``list_sites`` are the one place a tenant's scope applies to sites (tenant None: every
tenant's). The balance sums each channel per bucket with the series use case (``compute_series``: the hourly
rollup where the buckets allow) and combines the sums in ``Decimal``. A figure the site's channels cannot
support is never guessed: it is left out and named in ``unavailable`` with the reason (an export meter
measures what leaves for the grid, not what the panels produce, so without a production channel there is no
production, self-consumption or self-sufficiency).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final
from zoneinfo import ZoneInfo

from meterflow_obis import parse

from meterflow_api import sql
from meterflow_api.config import TariffSettings
from meterflow_api.cost import CostQuery, compute_cost, meter_channels
from meterflow_api.db import Database, Session
from meterflow_api.domain import DEFAULT_STEP, Interval, choose_channel, resolve_range, shown
from meterflow_api.domain.balance import Balance, BucketEnergy, balance_of
from meterflow_api.domain.pricing import exact, kwh_shown, money_shown
from meterflow_api.errors import NotFound
from meterflow_api.series import SeriesQuery, compute_series

ROLES: Final = ("import", "export", "production", "submeter")


@dataclass(frozen=True, slots=True)
class SiteChannel:
    role: str
    label: str  # the sub-meter's name; '' for the other roles
    muid: uuid.UUID
    obis: str

    def shown(self) -> dict[str, Any]:
        return {"role": self.role, "label": self.label or None, "muid": self.muid, "obis": self.obis}


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    tenant: str
    created_at: datetime
    channels: tuple[SiteChannel, ...] = field(default=())

    def channel(self, role: str) -> SiteChannel | None:
        return next((c for c in self.channels if c.role == role), None)

    @property
    def submeters(self) -> list[SiteChannel]:
        return [c for c in self.channels if c.role == "submeter"]

    def shown(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tenant": self.tenant,
            "created_at": self.created_at,
            "channels": [c.shown() for c in self.channels],
        }


def _sites_of_rows(rows: list[Any]) -> list[Site]:
    sites: dict[str, tuple[str, datetime, list[SiteChannel]]] = {}
    for name, tenant, created_at, role, label, muid, obis in rows:
        entry = sites.setdefault(name, (tenant, created_at, []))
        if role is not None:
            entry[2].append(SiteChannel(role, label, uuid.UUID(str(muid)), obis))
    order = {role: index for index, role in enumerate(ROLES)}
    return [
        Site(name, tenant, created, tuple(sorted(channels, key=lambda c: (order[c.role], c.label))))
        for name, (tenant, created, channels) in sites.items()
    ]


async def list_sites(session: Session, tenant: str | None) -> list[Site]:
    """The tenant's sites by name (None: every tenant's)."""
    return _sites_of_rows(list(await session.conn.fetch(sql.SITES, tenant)))


async def resolve_site(session: Session, name: str, tenant: str | None) -> Site:
    """The site ``name`` if the tenant may see it (None: any tenant's); NotFound otherwise."""
    found = _sites_of_rows(list(await session.conn.fetch(sql.SITE, name, tenant)))
    if not found:
        raise NotFound(f"unknown site {name!r} (GET /v1/sites lists the sites; meterflow sites create adds one)")
    return found[0]


@dataclass(frozen=True, slots=True)
class RangeQuery:
    """A site request's range: omitted start/end are the import channel's data."""

    start: datetime | None
    end: datetime | None
    zone: ZoneInfo
    interval: Interval | None = None


async def site_range(
    database: Database, site: Site, query: RangeQuery, tenant: str | None
) -> tuple[datetime, datetime]:
    anchor = site.channel("import") or site.channels[0]
    async with database.session() as session:
        channel = choose_channel(anchor.muid, parse(anchor.obis), await meter_channels(session, anchor.muid, tenant))
    return resolve_range(query.start, query.end, channel, channel.interval or DEFAULT_STEP)


async def _bucket_energy(
    database: Database,
    channel: SiteChannel,
    lo: datetime,
    hi: datetime,
    query: RangeQuery,
    tenant: str | None,
    from_aggregates: bool,
) -> list[BucketEnergy] | str:
    """kWh per bucket of a channel, or the reason there is none."""
    assert query.interval is not None
    series = SeriesQuery(channel.muid, parse(channel.obis), lo, hi, query.interval, "sum", query.zone)
    try:
        result = await compute_series(database, series, tenant, from_aggregates=from_aggregates)
    except NotFound:
        return f"the {channel.role} channel {channel.muid} {channel.obis} has no readings"
    return [
        BucketEnergy(p.start, p.end, None if p.value is None else exact(float(p.value)), p.readings)
        for p in result.points
    ]


async def compute_balance(
    database: Database, site: Site, query: RangeQuery, *, tenant: str | None = None, from_aggregates: bool = True
) -> Balance:
    """Import, export, net and (with a production channel) self-consumption figures per bucket and in total."""
    lo, hi = await site_range(database, site, query, tenant)
    energy: dict[str, list[BucketEnergy] | str] = {}
    for role in ("import", "export", "production"):
        channel = site.channel(role)
        if channel is not None:
            energy[role] = await _bucket_energy(database, channel, lo, hi, query, tenant, from_aggregates)
    submeters = {
        c.label: await _bucket_energy(database, c, lo, hi, query, tenant, from_aggregates) for c in site.submeters
    }
    return balance_of(lo, hi, energy, submeters)


def balance_body(site: Site, balance: Balance, zone: ZoneInfo, interval: Interval) -> dict[str, Any]:
    return {
        "site": site.name,
        "tz": zone.key,
        "interval": interval.name,
        "start": shown(balance.start, zone),
        "end": shown(balance.end, zone),
        "totals": balance.totals,
        "points": [
            {**point, "start": shown(point["start"], zone), "end": shown(point["end"], zone)}
            for point in balance.points
        ],
        "unavailable": balance.unavailable,
    }


async def compute_site_cost(
    database: Database,
    site: Site,
    query: RangeQuery,
    tariff: str,
    settings: TariffSettings,
    *,
    tenant: str | None = None,
    shift: Decimal | None = None,
    from_aggregates: bool = True,
) -> dict[str, Any]:
    """The import channel's cost minus the export channel's feed-in remuneration, under one tariff; with
    ``shift``, the import's saving had that share of its high-band energy run in the low band."""
    lo, hi = await site_range(database, site, query, tenant)
    parts: dict[str, Any] = {}
    for role in ("import", "export"):
        channel = site.channel(role)
        if channel is None:
            continue
        cost_query = CostQuery(
            channel.muid,
            parse(channel.obis),
            lo,
            hi,
            tariff,
            query.zone,
            query.interval,
            shift if role == "import" else None,
            priced_as=role,
        )
        parts[role] = await compute_cost(database, cost_query, settings, tenant=tenant, from_aggregates=from_aggregates)
    imported, exported = parts.get("import"), parts.get("export")
    import_cost = imported.total_cost if imported is not None else Decimal(0)
    paid = -exported.total_cost if exported is not None else Decimal(0)
    any_part = imported or exported
    assert any_part is not None  # a site has an import or an export channel (the CLI requires both)
    body: dict[str, Any] = {
        "site": site.name,
        "tariff": any_part.tariff.name,
        "currency": any_part.tariff.currency,
        "tz": query.zone.key,
        "start": shown(lo, query.zone),
        "end": shown(hi, query.zone),
        "total_kwh": kwh_shown(imported.summary.total_kwh) if imported is not None else 0.0,
        "total_cost": money_shown(import_cost - paid),
        "import": None if imported is None else _part(imported.body()),
        "export": None if exported is None else {**_part(exported.body()), "remuneration": money_shown(paid)},
    }
    if query.interval is not None:
        body["points"] = _net_points(imported, exported, query.zone)
    return body


def _part(body: dict[str, Any]) -> dict[str, Any]:
    keys = ("muid", "obis", "total_kwh", "total_cost", "energy_cost", "fixed_fee", "bands", "shift")
    return {key: body[key] for key in keys if key in body}


def _net_points(imported: Any, exported: Any, zone: ZoneInfo) -> list[dict[str, Any]]:
    base = imported if imported is not None else exported
    points: list[dict[str, Any]] = []
    for index, point in enumerate(base.points):
        i = imported.points[index] if imported is not None else None
        e = exported.points[index] if exported is not None else None
        import_cost = i.cost if i is not None else Decimal(0)
        paid = -e.cost if e is not None else Decimal(0)
        points.append(
            {
                "start": shown(point.start, zone),
                "end": shown(point.end, zone),
                "import_kwh": None if i is None or not i.readings else kwh_shown(i.kwh),
                "export_kwh": None if e is None or not e.readings else kwh_shown(e.kwh),
                "import_cost": None if i is None or not i.readings else money_shown(import_cost),
                "export_remuneration": None if e is None or not e.readings else money_shown(paid),
                "net_cost": money_shown(import_cost - paid),
            }
        )
    return points
