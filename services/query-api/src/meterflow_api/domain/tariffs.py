"""Time-of-use tariffs as data, and the band each instant falls in; pure (the holidays come from the
``holidays`` package's tables, not from a network).

A tariff has a time zone, a currency, optional public holidays (a country and subdivision whose holidays are
priced in one band all day) and versions, each valid from a date (midnight in the tariff's zone) until the
next one: bands with a price per kWh, each band a set of weekly windows (``mon-fri 07:00-20:00``), at most one
band without windows (every other time), a fixed monthly fee and a feed-in price for exported energy.

``tariff_from_mapping`` reads the shape of tariffs.yaml and of the tariff tables (migration 0010); every
problem is a ``TariffError`` naming the tariff and what to fix. Prices are ``Decimal``: given as text in the
file ("0.32") they are exact.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

DAY_NAMES: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY: Final = 24 * 60


class TariffError(ValueError):
    """A tariff definition that cannot be used; the message names the tariff and what to fix."""


@dataclass(frozen=True, slots=True)
class Window:
    """A weekly time window: on these weekdays (0 = Monday), from ``start`` to ``end`` minutes after local
    midnight (end 1440 = midnight at the end of the day)."""

    days: frozenset[int]
    start: int
    end: int

    def holds(self, weekday: int, minute: int) -> bool:
        return weekday in self.days and self.start <= minute < self.end


@dataclass(frozen=True, slots=True)
class Band:
    name: str
    price: Decimal  # per kWh, in the tariff's currency
    windows: tuple[Window, ...]  # empty: every time no other band's window holds


@dataclass(frozen=True, slots=True)
class TariffVersion:
    valid_from: date  # from this local midnight on, until the next version's
    bands: tuple[Band, ...]
    fixed_monthly_fee: Decimal = Decimal(0)
    feed_in_price: Decimal = Decimal(0)  # paid per exported kWh

    @property
    def cheapest(self) -> Band:
        """The low band: where consumption shifted away from the other bands would go."""
        return min(self.bands, key=lambda band: band.price)

    def band(self, name: str) -> Band:
        return next(band for band in self.bands if band.name == name)

    def band_at(self, weekday: int, minute: int) -> Band:
        rest = None
        for band in self.bands:
            if not band.windows:
                rest = band
            elif any(window.holds(weekday, minute) for window in band.windows):
                return band
        assert rest is not None  # checked when the version was read: the windows cover the week otherwise
        return rest


@dataclass(frozen=True, slots=True)
class HolidayRule:
    """Public holidays of ``country`` (and ``subdivision``, e.g. a Swiss canton) are priced in ``band``."""

    country: str
    subdivision: str | None
    band: str


@dataclass(frozen=True, slots=True)
class Tariff:
    name: str
    zone: ZoneInfo
    currency: str
    versions: tuple[TariffVersion, ...]  # by valid_from, at least one
    description: str = ""
    holidays: HolidayRule | None = None
    source: str = "file"  # file or table: where it was defined

    @property
    def whole_hours(self) -> bool:
        """Every band boundary is on a whole local hour: an hour of readings lies in one band."""
        return all(
            window.start % 60 == 0 and window.end % 60 == 0
            for version in self.versions
            for band in version.bands
            for window in band.windows
        )

    @property
    def boundaries(self) -> list[int]:
        """Every minute of the day (exclusive of 0 and 24:00) where some version's band may change: between
        two of them, on one local date, every instant is in the same band."""
        minutes = {
            minute
            for version in self.versions
            for band in version.bands
            for window in band.windows
            for minute in (window.start, window.end)
        }
        return sorted(minutes - {0, MINUTES_PER_DAY})

    def version_on(self, day: date) -> TariffVersion:
        """The version in force on a local date; before the first version's date, the first one."""
        chosen = self.versions[0]
        for version in self.versions[1:]:
            if version.valid_from > day:
                break
            chosen = version
        return chosen

    def band_at(self, local: datetime) -> tuple[TariffVersion, Band]:
        """The version and band of a wall-clock time in the tariff's zone."""
        day = local.date()
        version = self.version_on(day)
        if self.holidays is not None and is_holiday(self.holidays.country, self.holidays.subdivision, day):
            return version, version.band(self.holidays.band)
        return version, version.band_at(local.weekday(), local.hour * 60 + local.minute)

    def resolver(self) -> Callable[[datetime], tuple[TariffVersion, Band]]:
        """``band_at`` with memos for one pricing run: a month of readings has 28-31 dates and at most
        7 x 96 distinct weekday-minute slots, so each version, holiday check and band is resolved once."""
        days: dict[date, tuple[TariffVersion, Band | None]] = {}
        slots: dict[tuple[int, int, int], Band] = {}

        def resolve(local: datetime) -> tuple[TariffVersion, Band]:
            day = local.date()
            known = days.get(day)
            if known is None:
                version = self.version_on(day)
                rule = self.holidays
                on_holiday = rule is not None and is_holiday(rule.country, rule.subdivision, day)
                known = days[day] = (version, version.band(rule.band) if rule is not None and on_holiday else None)
            version, holiday_band = known
            if holiday_band is not None:
                return version, holiday_band
            weekday, minute = day.weekday(), local.hour * 60 + local.minute
            key = (id(version), weekday, minute)
            band = slots.get(key)
            if band is None:
                band = slots[key] = version.band_at(weekday, minute)
            return version, band

        return resolve

    def holiday_name(self, day: date) -> str | None:
        if self.holidays is None:
            return None
        return holiday_names(self.holidays.country, self.holidays.subdivision, day.year).get(day)


@functools.lru_cache(maxsize=256)
def holiday_names(country: str, subdivision: str | None, year: int) -> dict[date, str]:
    """The public holidays of a country (and subdivision) in a year, from the holidays package."""
    return dict(holidays.country_holidays(country, subdiv=subdivision, years=year))


def is_holiday(country: str, subdivision: str | None, day: date) -> bool:
    return day in holiday_names(country, subdivision, day.year)


# --- reading a definition ---------------------------------------------------------------------------------


_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")


def tariff_from_mapping(data: Mapping[str, Any], source: str = "file") -> Tariff:
    """A tariff from its definition (one entry of tariffs.yaml, or the tariff tables' rows as a mapping)."""
    name = str(data.get("name", ""))
    if not _SLUG.fullmatch(name):
        raise TariffError(f"tariff name {name!r} must be a slug: lower-case letters, digits, - and _")
    where = f"tariff {name}"
    unknown = set(data) - {"name", "description", "zone", "currency", "holidays", "versions"}
    if unknown:
        raise TariffError(f"{where}: unknown keys {sorted(unknown)}")
    zone = _zone(where, data.get("zone"))
    currency = str(data.get("currency", ""))
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise TariffError(f"{where}: currency must be an ISO 4217 code such as CHF or EUR (got {currency!r})")
    raw_versions = data.get("versions")
    if not isinstance(raw_versions, Sequence) or isinstance(raw_versions, str) or not raw_versions:
        raise TariffError(f"{where}: versions must be a non-empty list (each with valid_from and bands)")
    versions = tuple(sorted((_version(where, v) for v in raw_versions), key=lambda v: v.valid_from))
    if len({v.valid_from for v in versions}) != len(versions):
        raise TariffError(f"{where}: two versions have the same valid_from")
    rule = _holiday_rule(where, data.get("holidays"), versions)
    return Tariff(name, zone, currency, versions, str(data.get("description") or ""), rule, source)


def _zone(where: str, value: Any) -> ZoneInfo:
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise TariffError(f"{where}: zone {value!r} is not an IANA time zone such as Europe/Zurich") from None


def _version(where: str, data: Any) -> TariffVersion:
    if not isinstance(data, Mapping):
        raise TariffError(f"{where}: each version is a mapping with valid_from and bands")
    valid_from = data.get("valid_from")
    if isinstance(valid_from, str):
        try:
            valid_from = date.fromisoformat(valid_from)
        except ValueError:
            valid_from = None
    if not isinstance(valid_from, date) or isinstance(valid_from, datetime):
        raise TariffError(f"{where}: valid_from must be a date such as 2023-01-01 (got {data.get('valid_from')!r})")
    where = f"{where}, version {valid_from}"
    raw_bands = data.get("bands")
    if not isinstance(raw_bands, Sequence) or isinstance(raw_bands, str) or not raw_bands:
        raise TariffError(f"{where}: bands must be a non-empty list")
    bands = tuple(_band(where, band) for band in raw_bands)
    _check_bands(where, bands)
    return TariffVersion(
        valid_from,
        bands,
        _amount(where, "fixed_monthly_fee", data.get("fixed_monthly_fee", 0)),
        _amount(where, "feed_in_price", data.get("feed_in_price", 0)),
    )


def _band(where: str, data: Any) -> Band:
    if not isinstance(data, Mapping) or not data.get("name"):
        raise TariffError(f"{where}: each band is a mapping with name, price and (but for one) windows")
    name = str(data["name"])
    windows = data.get("windows") or []
    if not isinstance(windows, Sequence) or isinstance(windows, str):
        raise TariffError(f"{where}, band {name}: windows must be a list")
    return Band(
        name, _amount(f"{where}, band {name}", "price", data.get("price")), tuple(_window(where, w) for w in windows)
    )


def _window(where: str, data: Any) -> Window:
    if not isinstance(data, Mapping):
        raise TariffError(f"{where}: a window is a mapping with days, from and to")
    start, end = _minute(where, data.get("from")), _minute(where, data.get("to"))
    if not start < end:
        raise TariffError(
            f"{where}: window {data.get('from')}-{data.get('to')} must end after it starts (24:00 ends a day)"
        )
    return Window(parse_days(where, str(data.get("days", "mon-sun"))), start, end)


def parse_days(where: str, text: str) -> frozenset[int]:
    """``mon-fri``, ``sat,sun``, ``mon-fri,sun`` or ``all`` as weekday numbers (0 = Monday)."""
    if text.strip() == "all":
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.replace(" ", "").lower().split(","):
        first, _, last = part.partition("-")
        if first not in DAY_NAMES or (last and last not in DAY_NAMES):
            raise TariffError(f"{where}: days {text!r}: use mon..sun, ranges (mon-fri) and lists (sat,sun)")
        lo, hi = DAY_NAMES.index(first), DAY_NAMES.index(last or first)
        days.update(range(lo, hi + 1) if lo <= hi else [*range(lo, 7), *range(hi + 1)])
    return frozenset(days)


def _minute(where: str, value: Any) -> int:
    found = _CLOCK.fullmatch(str(value))
    if found is None or int(found[2]) >= 60 or int(found[1]) * 60 + int(found[2]) > MINUTES_PER_DAY:
        raise TariffError(f"{where}: time {value!r} must be HH:MM between 00:00 and 24:00")
    return int(found[1]) * 60 + int(found[2])


def _amount(where: str, what: str, value: Any) -> Decimal:
    try:
        # str() first: a YAML float 0.32 becomes Decimal('0.32'), not the binary 0.320000000000000006661...
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        amount = Decimal("NaN")
    if not amount.is_finite() or amount < 0:
        raise TariffError(f"{where}: {what} must be a number >= 0 (got {value!r}); write prices as text, e.g. '0.32'")
    return amount


def _check_bands(where: str, bands: tuple[Band, ...]) -> None:
    names = [band.name for band in bands]
    if len(set(names)) != len(names):
        raise TariffError(f"{where}: band names must be unique (got {names})")
    rest = [band.name for band in bands if not band.windows]
    if len(rest) > 1:
        raise TariffError(f"{where}: only one band may go without windows (every other time); got {rest}")
    if not rest:
        for weekday in range(7):
            covered = sorted((w.start, w.end) for b in bands for w in b.windows if weekday in w.days)
            reach = 0
            for start, end in covered:
                if start > reach:
                    break
                reach = max(reach, end)
            if reach < MINUTES_PER_DAY:
                raise TariffError(
                    f"{where}: {DAY_NAMES[weekday]} {reach // 60:02d}:{reach % 60:02d} is in no band: "
                    "add a band without windows for every other time"
                )


def _holiday_rule(where: str, data: Any, versions: Sequence[TariffVersion]) -> HolidayRule | None:
    if data is None:
        return None
    if not isinstance(data, Mapping) or not data.get("country") or not data.get("band"):
        raise TariffError(f"{where}: holidays needs country (e.g. CH), band and optionally subdivision (e.g. ZH)")
    rule = HolidayRule(
        str(data["country"]), None if data.get("subdivision") is None else str(data["subdivision"]), str(data["band"])
    )
    try:
        holiday_names(rule.country, rule.subdivision, versions[0].valid_from.year)
    except NotImplementedError as error:
        raise TariffError(f"{where}: holidays: {error}") from None
    for version in versions:
        if rule.band not in {band.name for band in version.bands}:
            raise TariffError(f"{where}: holidays band {rule.band!r} is not a band of version {version.valid_from}")
    return rule


def tariff_to_mapping(tariff: Tariff) -> dict[str, Any]:
    """A tariff as GET /v1/tariffs shows it (prices as JSON numbers, times as HH:MM)."""
    return {
        "name": tariff.name,
        "description": tariff.description,
        "zone": tariff.zone.key,
        "currency": tariff.currency,
        "source": tariff.source,
        "holidays": None
        if tariff.holidays is None
        else {
            "country": tariff.holidays.country,
            "subdivision": tariff.holidays.subdivision,
            "band": tariff.holidays.band,
        },
        "versions": [
            {
                "valid_from": version.valid_from.isoformat(),
                "fixed_monthly_fee": float(version.fixed_monthly_fee),
                "feed_in_price": float(version.feed_in_price),
                "bands": [
                    {
                        "name": band.name,
                        "price": float(band.price),
                        "windows": [
                            {"days": _days_text(w.days), "from": _clock(w.start), "to": _clock(w.end)}
                            for w in band.windows
                        ],
                    }
                    for band in version.bands
                ],
            }
            for version in tariff.versions
        ],
    }


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _days_text(days: frozenset[int]) -> str:
    ordered = sorted(days)
    if ordered == list(range(ordered[0], ordered[-1] + 1)) and len(ordered) > 1:
        return f"{DAY_NAMES[ordered[0]]}-{DAY_NAMES[ordered[-1]]}"
    return ",".join(DAY_NAMES[d] for d in ordered)


ONE_DAY: Final = timedelta(days=1)
