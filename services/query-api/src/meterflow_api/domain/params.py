"""Parameter parsing: each query or path value from its text, or a ParamError saying how to fix it.

``Problems`` collects those errors with each parameter's location, so one 422 names every wrong parameter.
Page cursors of /readings are parsed here too.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from meterflow_obis import ObisCode, ObisError, parse

from meterflow_api.errors import InvalidRequest, Loc, ParamError, Problem

T = TypeVar("T")

DEFAULT_LIMIT: Final = 1000
MAX_LIMIT: Final = 10_000
MEASUREMENT_DEFAULT_LIMIT: Final = 10_000
DEFAULT_METERS_LIMIT: Final = 100
MAX_METERS_LIMIT: Final = 1000
MAX_LAGS: Final = 20
MAX_LAG: Final = 100_000
EXAMPLE_MUID: Final = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"


@dataclass(slots=True)
class Problems:
    """Collects parameter errors so one 422 answer names every wrong parameter, not just the first."""

    items: list[Problem] = field(default_factory=list)

    def attempt(self, loc: Loc, parser: Callable[[], T]) -> T | None:
        try:
            return parser()
        except ParamError as error:
            self.items.append(Problem(loc, str(error)))
            return None

    def add(self, loc: Loc, msg: str) -> None:
        self.items.append(Problem(loc, msg))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidRequest(self.items)


def parse_muid(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ParamError(f"{quoted(text)} is not a meter id: expected a UUID such as {EXAMPLE_MUID}") from None


def parse_obis(text: str) -> ObisCode:
    try:
        return parse(text)
    except ObisError as error:
        raise ParamError(
            f"{error}; give the channel as 12 hex digits (0100011D00FF), full (1-0:1.29.0*255) or reduced (1.29.0)"
        ) from None


_ZONES_BY_LOWER: dict[str, str] | None = None


def parse_zone(name: str) -> ZoneInfo:
    """An IANA time zone (``Europe/Zurich``, ``UTC``); POSIX strings like ``UTC+3`` are refused on purpose
    (PostgreSQL reads their sign inverted)."""
    global _ZONES_BY_LOWER
    cleaned = name.strip()
    if cleaned and re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", cleaned):
        try:
            return ZoneInfo(cleaned)
        except (ZoneInfoNotFoundError, ValueError, IsADirectoryError):
            pass
    if _ZONES_BY_LOWER is None:
        _ZONES_BY_LOWER = {zone.lower(): zone for zone in available_timezones()}
    hint = _ZONES_BY_LOWER.get(cleaned.lower())
    suggestion = f" (did you mean {hint}?)" if hint else ""
    raise ParamError(f"unknown time zone {quoted(name)}{suggestion}: use an IANA name such as UTC or Europe/Zurich")


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """ISO 8601 date or date-time, returned in UTC.

    A date means its midnight and a date-time without offset means that wall-clock time, both in ``zone``.
    A wall-clock time that does not exist or occurs twice (DST change) takes the offset in force before
    the change. A '+' in a URL must be sent as %2B; a space where the offset's '+' belongs is accepted.
    """
    cleaned = text.strip()
    value = _fromisoformat(cleaned)
    if value is None:
        fixed = re.fullmatch(r"(.*\d)\s(\d{2}(?::?\d{2})?)", cleaned)
        if fixed is not None:
            value = _fromisoformat(f"{fixed[1]}+{fixed[2]}")
    if value is None:
        raise ParamError(
            f"{quoted(text)} is not an ISO 8601 date or date-time: use 2023-02-01, 2023-02-01T06:00 "
            "(wall-clock time in tz) or 2023-02-01T05:00:00Z / 2023-02-01T06:00:00%2B01:00"
        )
    if value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def _fromisoformat(text: str) -> datetime | None:
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), time())
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def parse_limit(value: int, maximum: int = MAX_LIMIT) -> int:
    if not 1 <= value <= maximum:
        raise ParamError(f"limit must be between 1 and {maximum} (got {value}); page with cursor for more")
    return value


def parse_lags(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise ParamError("lags is empty: give comma-separated interval counts, e.g. 96,672 (1 day, 1 week of 15 min)")
    lags: list[int] = []
    for part in parts:
        if not re.fullmatch(r"\d+", part) or not 1 <= int(part) <= MAX_LAG:
            raise ParamError(f"lag {quoted(part)} is not a whole number of intervals between 1 and {MAX_LAG}")
        lags.append(int(part))
    if len(lags) > MAX_LAGS:
        raise ParamError(f"at most {MAX_LAGS} lags per request (got {len(lags)})")
    return lags


AGGS: Final = ("sum", "avg", "min", "max", "count")


def parse_agg(text: str) -> str:
    if text not in AGGS:
        raise ParamError(f"unknown agg {quoted(text)}: use one of {', '.join(AGGS)}")
    return text


def quoted(text: str) -> str:
    """A user's value in a message: repr, cut at 60 characters."""
    return repr(text if len(text) <= 60 else text[:60] + "...")


def encode_cursor(ts: datetime) -> str:
    """Opaque page cursor: URL-safe base64 of the last returned interval start (UTC, microseconds)."""
    text = ts.astimezone(UTC).isoformat(timespec="microseconds")
    return base64.urlsafe_b64encode(text.encode("ascii")).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> datetime:
    message = "cursor is not one this API returned: pass next_cursor of the previous page unchanged"
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = datetime.fromisoformat(raw.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise ParamError(message) from None
    if value.tzinfo is None:
        raise ParamError(message)
    return value.astimezone(UTC)


def encode_meters_cursor(last_muid: uuid.UUID) -> str:
    """Opaque page cursor of /v1/meters: URL-safe base64 of the last listed meter id (its 16 bytes)."""
    return base64.urlsafe_b64encode(last_muid.bytes).rstrip(b"=").decode("ascii")


def decode_meters_cursor(cursor: str) -> uuid.UUID:
    """The meter id a /v1/meters cursor carries; the next page lists the meters after it."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    # Only the exact text encode_meters_cursor writes: base64 decoding skips stray characters.
    if len(raw) != 16 or encode_meters_cursor(uuid.UUID(bytes=raw)) != cursor:
        raise ParamError(
            "cursor is not one /v1/meters returned: pass next_cursor of the previous page unchanged, "
            "or leave cursor out for the first page"
        )
    return uuid.UUID(bytes=raw)
