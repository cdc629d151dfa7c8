"""Synthetic meter files in the exact source format, deterministic for a seed.

Households draw a daily rhythm (night base load, morning and evening peaks, more at home at the
weekend) with noise; every fifth one has a PV system whose export follows the sun and is zero at
night. Such a meter's records carry both OBIS keys, as a real two-register meter delivers them.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

IMPORT_HEX = "0100011D00FF"  # 1-0:1.29.0*255 active energy import per interval, kWh
EXPORT_HEX = "0100021D00FF"  # 1-0:2.29.0*255 active energy export per interval, kWh
STEP = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class Household:
    muid: uuid.UUID
    base_kw: float
    peak_kw: float
    pv_kwp: float  # 0 when the household has no PV system

    @property
    def has_pv(self) -> bool:
        return self.pv_kwp > 0


def households(count: int, seed: int, pv_share: float = 0.2) -> list[Household]:
    rng = random.Random(seed)
    pv_every = max(1, round(1 / pv_share)) if pv_share > 0 else 0
    result = []
    for index in range(count):
        muid = uuid.UUID(int=rng.getrandbits(128), version=4)
        has_pv = pv_every > 0 and index % pv_every == pv_every - 1
        result.append(
            Household(
                muid=muid,
                base_kw=rng.uniform(0.08, 0.3),
                peak_kw=rng.uniform(0.8, 2.5),
                pv_kwp=rng.uniform(3.0, 10.0) if has_pv else 0.0,
            )
        )
    return result


def consumption_kw(house: Household, local: datetime, rng: random.Random) -> float:
    """A household's load: base plus morning and evening peaks, a later, longer day at the weekend."""
    hour = local.hour + local.minute / 60
    weekend = local.weekday() >= 5
    morning = math.exp(-(((hour - (9.0 if weekend else 7.0)) / 1.2) ** 2))
    midday = (0.6 if weekend else 0.15) * math.exp(-(((hour - 12.5) / 1.5) ** 2))
    evening = math.exp(-(((hour - 19.0) / 1.8) ** 2))
    shape = 0.35 * morning + midday + 0.65 * evening
    noise = rng.lognormvariate(0, 0.25)
    return (house.base_kw + house.peak_kw * shape) * noise


def pv_kw(house: Household, ts: datetime, rng: random.Random) -> float:
    """Clear-sky bell between sunrise and sunset (roughly Central Europe, by day of year), with clouds."""
    day = ts.timetuple().tm_yday
    half_daylight = 4.5 + 3.5 * math.sin(2 * math.pi * (day - 80) / 365)  # hours either side of noon
    hour = ts.hour + ts.minute / 60 + 0.5  # the interval midpoint
    solar_noon_utc = 11.5
    x = (hour - solar_noon_utc) / half_daylight
    if abs(x) >= 1:
        return 0.0
    season = 0.55 + 0.45 * math.sin(2 * math.pi * (day - 80) / 365)
    clouds = rng.uniform(0.3, 1.0)
    return house.pv_kwp * season * math.cos(x * math.pi / 2) ** 2 * clouds


def kwh(kw: float) -> float:
    # Meters deliver energy per 15 minutes with 0.1 Wh resolution.
    return round(kw * 0.25, 4)


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def records(house: Household, start: date, days: int, seed: int) -> Iterator[dict[str, object]]:
    """Records newest first, like the source API: one per 15-minute interval start (UTC)."""
    rng = random.Random(f"{seed}:{house.muid}")
    first = datetime(start.year, start.month, start.day, tzinfo=UTC)
    steps = days * 96
    for index in range(steps - 1, -1, -1):
        ts = first + index * STEP
        local = ts + timedelta(hours=1)  # household clock roughly CET; exact zones don't matter here
        load = consumption_kw(house, local, rng)
        record: dict[str, object] = {
            "measurement": "energy",
            "timestamp": iso(ts),
            "tags": {"muid": str(house.muid), "quality": "measured"},
        }
        if house.has_pv:
            generation = pv_kw(house, ts, rng)
            # Self-consumption first: the grid sees only the difference in each direction.
            record[IMPORT_HEX] = kwh(max(0.0, load - generation))
            record[EXPORT_HEX] = kwh(max(0.0, generation - load))
        else:
            record[IMPORT_HEX] = kwh(load)
        yield record


def readings_count(house: Household, days: int) -> int:
    return days * 96 * (2 if house.has_pv else 1)
