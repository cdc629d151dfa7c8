"""Pricing energy by a tariff, in exact decimal arithmetic; pure.

Rules (docs/api.md, "How cost is computed"):
- a reading is priced by its interval START, read as a wall-clock time in the TARIFF's zone: its band, and
  the version in force on that local date (a price change mid-period splits the period at the change's
  local midnight). The rows priced here are readings, hours of the hourly rollup or the sum of a local date's
  band segment (cost.py), each wholly in one band, priced by its first start;
- each value is taken as the shortest decimal that reads back as its double, rounded to 9 decimal places:
  that removes the binary noise a sum of doubles picks up in PostgreSQL (1e-15 kWh for a day of 15-minute
  values) and keeps every digit a meter delivers (the Exnaton files have at most 5); from there on
  everything is ``Decimal``;
- shown figures are rounded half-even: kWh to 6 decimal places, money to 4 (a hundredth of a cent: a frontend
  rounds to cents for display; totals are rounded from the exact sums, not summed from rounded parts);
- the fixed monthly fee is pro rata: each local day of the period (in part: its share of the day's
  wall-clock hours) carries fee / days in its month, at the version in force that day.
"""

from __future__ import annotations

import bisect
import calendar
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final

from meterflow_api.domain.tariffs import Tariff

READING_PLACES: Final = Decimal("1e-9")
KWH_PLACES: Final = Decimal("1e-6")
MONEY_PLACES: Final = Decimal("1e-4")


def exact(value: float) -> Decimal:
    """A stored double as the decimal the source delivered (see the module's rules)."""
    return Decimal(repr(value)).quantize(READING_PLACES, rounding=ROUND_HALF_EVEN)


def kwh_shown(value: Decimal) -> float:
    """kWh for a response: 6 places, as the shortest JSON number (97.6082, never 97.60819999999998)."""
    return float(value.quantize(KWH_PLACES, rounding=ROUND_HALF_EVEN))


def money_shown(value: Decimal) -> float:
    return float(value.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN))


@dataclass(frozen=True, slots=True)
class Priced:
    """One reading (or rollup hour) priced: its start (UTC), energy, band, price and the low band's price."""

    start: datetime
    kwh: Decimal
    band: str
    price: Decimal
    low_price: Decimal
    valid_from: date
    feed_in_price: Decimal
    readings: int = 1  # readings summed into kwh (an hour of the rollup: usually 4)

    @property
    def cost(self) -> Decimal:
        return self.kwh * self.price


def price_readings(
    tariff: Tariff, rows: Iterable[tuple[datetime, float] | tuple[datetime, float, int]]
) -> list[Priced]:
    """Each (interval start, kWh[, readings]) row priced by the tariff, in the tariff's zone."""
    priced: list[Priced] = []
    zone = tariff.zone
    resolve = tariff.resolver()
    low_prices: dict[int, Decimal] = {}
    for start, value, *count in rows:
        version, band = resolve(start.astimezone(zone).replace(tzinfo=None))
        low = low_prices.get(id(version))
        if low is None:
            low = low_prices[id(version)] = version.cheapest.price
        priced.append(
            Priced(
                start,
                exact(value),
                band.name,
                band.price,
                low,
                version.valid_from,
                version.feed_in_price,
                count[0] if count else 1,
            )
        )
    return priced


@dataclass(slots=True)
class BandTotal:
    name: str
    price: Decimal
    valid_from: date
    kwh: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)

    def shown(self) -> dict[str, object]:
        return {
            "name": self.name,
            "kwh": kwh_shown(self.kwh),
            "cost": money_shown(self.cost),
            "price": float(self.price),
            "valid_from": self.valid_from.isoformat(),
        }


@dataclass(slots=True)
class CostSummary:
    """Energy and cost of a period by band; a band whose price changed mid-period has one entry per price."""

    total_kwh: Decimal = Decimal(0)
    energy_cost: Decimal = Decimal(0)
    bands: list[BandTotal] = field(default_factory=list)


def summarize(priced: Sequence[Priced], band_order: Sequence[str] = ()) -> CostSummary:
    """Totals per (band, price); entries ordered by valid_from, then by ``band_order`` (the tariff's)."""
    by_key: dict[tuple[str, Decimal, date], BandTotal] = {}
    summary = CostSummary()
    for row in priced:
        key = (row.band, row.price, row.valid_from)
        total = by_key.get(key)
        if total is None:
            total = by_key[key] = BandTotal(row.band, row.price, row.valid_from)
        cost = row.cost
        total.kwh += row.kwh
        total.cost += cost
        summary.total_kwh += row.kwh
        summary.energy_cost += cost
    rank = {name: index for index, name in enumerate(band_order)}
    summary.bands = sorted(by_key.values(), key=lambda b: (b.valid_from, rank.get(b.name, len(rank)), b.name))
    return summary


def remuneration(priced: Sequence[Priced]) -> tuple[Decimal, Decimal]:
    """Exported kWh and what the feed-in price pays for them (each at the version in force at its start)."""
    kwh = sum((row.kwh for row in priced), Decimal(0))
    paid = sum((row.kwh * row.feed_in_price for row in priced), Decimal(0))
    return kwh, paid


@dataclass(frozen=True, slots=True)
class Shift:
    """What the period would have cost had ``share`` of the energy priced above the low band run in it."""

    share: Decimal
    shifted_kwh: Decimal
    cost: Decimal  # energy cost after the shift
    saving: Decimal

    def shown(self) -> dict[str, object]:
        return {
            "share": float(self.share),
            "shifted_kwh": kwh_shown(self.shifted_kwh),
            "cost": money_shown(self.cost),
            "saving": money_shown(self.saving),
        }


def shift_figure(priced: Sequence[Priced], share: Decimal, energy_cost: Decimal) -> Shift:
    """Moves ``share`` (0..1) of every reading above its version's cheapest band into that band."""
    moved = Decimal(0)
    saving = Decimal(0)
    for row in priced:
        if row.price > row.low_price:
            kwh = row.kwh * share
            moved += kwh
            saving += kwh * (row.price - row.low_price)
    return Shift(share, moved, energy_cost - saving, saving)


def fixed_fee(tariff: Tariff, start: datetime, end: datetime) -> Decimal:
    """The monthly fee pro rata over [start, end) (see the module's rules). The wall-clock seconds covered are
    added up per month and fee first, so a whole month costs exactly its fee."""
    zone = tariff.zone
    lo = start.astimezone(zone).replace(tzinfo=None)
    hi = end.astimezone(zone).replace(tzinfo=None)
    covered: dict[tuple[int, int, Decimal], int] = {}
    day = lo.date()
    while datetime.combine(day, time()) < hi:
        day_start = datetime.combine(day, time())
        seconds = int((min(hi, day_start + timedelta(days=1)) - max(lo, day_start)).total_seconds())
        key = (day.year, day.month, tariff.version_on(day).fixed_monthly_fee)
        covered[key] = covered.get(key, 0) + seconds
        day += timedelta(days=1)
    total = Decimal(0)
    for (year, month, fee), seconds in covered.items():
        month_seconds = calendar.monthrange(year, month)[1] * 86400
        total += fee * Decimal(seconds) / Decimal(month_seconds)
    return total


@dataclass(slots=True)
class CostPoint:
    start: datetime
    end: datetime
    kwh: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)
    readings: int = 0


def cost_points(priced: Sequence[Priced], edges: Sequence[datetime]) -> list[CostPoint]:
    """kWh and energy cost per bucket; ``edges`` (UTC, ascending) bound the buckets, n + 1 for n."""
    points = [CostPoint(lo, hi) for lo, hi in itertools.pairwise(edges)]
    for row in priced:
        index = bisect.bisect_right(edges, row.start) - 1
        if 0 <= index < len(points):
            point = points[index]
            point.kwh += row.kwh
            point.cost += row.cost
            point.readings += row.readings
    return points
