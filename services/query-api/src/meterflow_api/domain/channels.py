"""Channels of a meter: which one a request means and the range it defaults to."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from meterflow_obis import ObisCode, ObisError, decode, parse

from meterflow_api.domain.calendar import ONE_MICROSECOND
from meterflow_api.errors import InvalidRequest, NotFound

DEFAULT_STEP: Final = timedelta(seconds=900)


@dataclass(frozen=True, slots=True)
class Channel:
    obis: str
    first: datetime
    last: datetime


def resolve_range(
    start: datetime | None, end: datetime | None, channel: Channel, tail: timedelta = ONE_MICROSECOND
) -> tuple[datetime, datetime]:
    """Omitted start/end default to the channel's data: from its first reading to just after its last
    (``tail`` after the last reading's start: 1 µs, or one interval where whole intervals matter)."""
    return (channel.first if start is None else start, channel.last + tail if end is None else end)


def choose_channel(muid: uuid.UUID, requested: ObisCode | None, channels: Sequence[Channel]) -> Channel:
    """The channel a request means; ``obis`` may be left out only when the meter has exactly one."""
    if not channels:
        raise NotFound(f"unknown meter {muid}: no readings stored for it (GET /v1/meters lists the meters)")
    if requested is None:
        if len(channels) == 1:
            return channels[0]
        raise InvalidRequest.one(
            ("query", "obis"),
            f"obis is required: meter {muid} has {len(channels)} channels: {describe_channels(channels)}; "
            f"pass one, e.g. obis={_hex(channels[0].obis)}",
        )
    for channel in channels:
        if channel.obis == requested.normalized:
            return channel
    raise NotFound(
        f"meter {muid} has no channel {requested.normalized} ({requested.hex}); "
        f"its channels: {describe_channels(channels)}"
    )


def describe_channels(channels: Iterable[Channel]) -> str:
    return ", ".join(f"{c.obis} ({_hex(c.obis)})" for c in channels)


def _hex(obis: str) -> str:
    try:
        return parse(obis).hex
    except ObisError:
        return obis


def measurement_of(obis: str) -> str:
    """The source API's ``measurement`` for a channel: energy or power, else the quantity itself."""
    try:
        quantity = decode(obis).quantity
    except ObisError:
        return "unknown"
    if quantity.endswith("_energy"):
        return "energy"
    if quantity.endswith("_power"):
        return "power"
    return quantity
