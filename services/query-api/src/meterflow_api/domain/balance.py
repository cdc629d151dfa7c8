"""A site's energy balance from its channels' kWh per bucket; pure, in ``Decimal``.

Per bucket and in total: import_kwh, export_kwh, net_kwh = import - export, and with a production channel
production_kwh, self_consumption_kwh = production - export (what the site used of its own production),
self_consumption_rate = self_consumption / production and self_sufficiency = self_consumption / consumption
(autarky), where consumption = import + self_consumption. A point's figure is null where a channel it
needs has no reading in the bucket (or a rate's denominator is 0); totals sum what each channel has.
A figure the channels cannot support at all is absent from totals and points and named in ``unavailable``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Final

from meterflow_api.domain.pricing import kwh_shown

RATE_PLACES: Final = Decimal("1e-6")
PRODUCTION_FIGURES: Final = ("production_kwh", "self_consumption_kwh", "self_consumption_rate", "self_sufficiency")
NO_PRODUCTION: Final = (
    "the site has no production channel: an export meter measures what leaves for the grid, not what the panels "
    "produce (add one with meterflow sites create ... --production MUID[:OBIS])"
)


@dataclass(frozen=True, slots=True)
class BucketEnergy:
    start: datetime
    end: datetime
    kwh: Decimal | None  # None: no reading in the bucket
    readings: int


@dataclass(frozen=True, slots=True)
class Balance:
    start: datetime
    end: datetime
    totals: dict[str, Any]
    points: list[dict[str, Any]]
    unavailable: dict[str, str]


def _rate(part: Decimal | None, whole: Decimal | None) -> float | None:
    if part is None or whole is None or whole == 0:
        return None
    return float((part / whole).quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN))


def _kwh(value: Decimal | None) -> float | None:
    return None if value is None else kwh_shown(value)


def _minus(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return None if a is None or b is None else a - b


def figures(
    imported: Decimal | None, exported: Decimal | None, produced: Decimal | None, with_production: bool
) -> dict[str, Any]:
    """The balance figures of one bucket (or of the totals), as shown."""
    shown: dict[str, Any] = {
        "import_kwh": _kwh(imported),
        "export_kwh": _kwh(exported),
        "net_kwh": _kwh(_minus(imported, exported)),
    }
    if with_production:
        own = _minus(produced, exported)
        consumption = None if imported is None or own is None else imported + own
        shown["production_kwh"] = _kwh(produced)
        shown["self_consumption_kwh"] = _kwh(own)
        shown["self_consumption_rate"] = _rate(own, produced)
        shown["self_sufficiency"] = _rate(own, consumption)
    return shown


def _total(series: Sequence[BucketEnergy] | None) -> Decimal | None:
    if series is None:
        return None
    values = [b.kwh for b in series if b.kwh is not None]
    return sum(values, Decimal(0)) if values else None


def balance_of(
    start: datetime,
    end: datetime,
    energy: Mapping[str, Sequence[BucketEnergy] | str],
    submeters: Mapping[str, Sequence[BucketEnergy] | str] | None = None,
) -> Balance:
    """The balance from each role's kWh per bucket (all on the same buckets), or the reason a role has none."""
    unavailable: dict[str, str] = {}
    series: dict[str, Sequence[BucketEnergy]] = {}
    for role, value in energy.items():
        if isinstance(value, str):
            unavailable[f"{role}_kwh"] = value
        else:
            series[role] = value
    with_production = "production" in series
    if not with_production:
        reason = energy.get("production")
        for figure in PRODUCTION_FIGURES:
            unavailable[figure] = reason if isinstance(reason, str) else NO_PRODUCTION
    for role in ("import", "export"):
        if role not in energy:
            unavailable[f"{role}_kwh"] = f"the site has no {role} channel"
    _derive_unavailable(unavailable, with_production)
    sub_series = {label: s for label, s in (submeters or {}).items() if not isinstance(s, str)}
    for label, value in (submeters or {}).items():
        if isinstance(value, str):
            unavailable[f"submeters.{label}"] = value
    buckets = next(iter(series.values()), [])
    points: list[dict[str, Any]] = []
    for index, bucket in enumerate(buckets):

        def at(role: str, i: int = index) -> Decimal | None:
            found = series.get(role)
            return None if found is None else found[i].kwh

        point: dict[str, Any] = {"start": bucket.start, "end": bucket.end}
        point.update(figures(at("import"), at("export"), at("production"), with_production))
        if sub_series:
            point["submeters"] = {label: _kwh(s[index].kwh) for label, s in sub_series.items()}
        points.append(_without(point, unavailable))
    totals = figures(
        _total(series.get("import")), _total(series.get("export")), _total(series.get("production")), with_production
    )
    if sub_series:
        totals["submeters"] = {label: _kwh(_total(s)) for label, s in sub_series.items()}
    return Balance(start, end, _without(totals, unavailable), points, unavailable)


def _derive_unavailable(unavailable: dict[str, str], with_production: bool) -> None:
    """A figure computed from a missing one is missing for the same reason."""
    for role in ("import", "export"):
        reason = unavailable.get(f"{role}_kwh")
        if reason is not None:
            unavailable.setdefault("net_kwh", reason)
            if with_production:
                unavailable.setdefault("self_sufficiency", reason)
                if role == "export":
                    for figure in PRODUCTION_FIGURES[1:]:
                        unavailable.setdefault(figure, reason)


def _without(shown: dict[str, Any], unavailable: Mapping[str, str]) -> dict[str, Any]:
    """Figures that depend on a missing channel are absent, not null."""
    return {key: value for key, value in shown.items() if key not in unavailable}
