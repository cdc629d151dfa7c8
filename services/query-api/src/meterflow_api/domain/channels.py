"""Channels of a meter: what each measures (as the channels table holds it), which one a request means and
the range it defaults to."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from meterflow_obis import ObisCode, ObisError, parse

from meterflow_api.domain.calendar import ONE_MICROSECOND
from meterflow_api.errors import InvalidRequest, NotFound

DEFAULT_STEP: Final = timedelta(seconds=900)


@dataclass(frozen=True, slots=True)
class Channel:
    """One row of the channels table: a meter's OBIS channel, its first and last interval start and what it
    measures (decoded once, when its first reading was written)."""

    obis: str  # normalized, e.g. 1-0:1.29.0*255
    first: datetime
    last: datetime
    quantity: str = "unknown"
    direction: str | None = None
    unit: str | None = None
    measurement: str = "unknown"  # the source API's kind: energy, power, else the quantity
    interval: timedelta | None = None  # the most frequent step between readings; None for a single reading
    readings: int = 0  # the number of readings; with updated_at, the version HTTP caching derives ETags from
    updated_at: datetime | None = None  # the writer's last change of the channel


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
            f"pass one, e.g. obis={hex_of(channels[0].obis)}",
        )
    for channel in channels:
        if channel.obis == requested.normalized:
            return channel
    raise NotFound(
        f"meter {muid} has no channel {requested.normalized} ({requested.hex}); "
        f"its channels: {describe_channels(channels)}"
    )


def describe_channels(channels: Iterable[Channel]) -> str:
    return ", ".join(f"{c.obis} ({hex_of(c.obis)})" for c in channels)


@functools.lru_cache(maxsize=4096)
def hex_of(obis: str) -> str:
    """A stored code as the source's 12 hex digits (as it is when it does not parse)."""
    try:
        return parse(obis).hex
    except ObisError:
        return obis
