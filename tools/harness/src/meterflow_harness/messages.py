"""Synthetic messages of the pipeline's topics, for feeding a service directly: reading batches of
meter.readings.v1 and their Kafka encoding."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from meterflow_contracts import READINGS, ReadingBatch, SourcePosition
from meterflow_obis import decode

OBIS_HEX = {"1-0:1.29.0*255": "0100011D00FF", "1-0:2.29.0*255": "0100021D00FF"}


def reading_batch(
    muid: uuid.UUID,
    obis: str,
    start: datetime,
    values: Sequence[float],
    *,
    quality: str | Sequence[str] = "measured",
    bucket: str = "meterflow-raw",
    key: str = "meters/object.json",
    etag: str = "etag-1",
    chunk: int = 0,
) -> ReadingBatch:
    """One meter.readings.v1 message: ``values`` at 15-minute steps from ``start``, described as the normalizer
    describes the channel."""
    info = decode(obis)
    qualities = [quality] * len(values) if isinstance(quality, str) else list(quality)
    readings = [
        (start + timedelta(minutes=15 * i), v, q) for i, (v, q) in enumerate(zip(values, qualities, strict=True))
    ]
    return ReadingBatch(
        muid=muid,
        obis=obis,
        obis_hex=OBIS_HEX.get(obis, "0100011D00FF"),
        quantity=info.quantity,
        direction=info.direction,
        unit=info.unit,
        measurement="energy",
        interval_s=900 if len(values) > 1 else None,
        readings=readings,
        source=SourcePosition(
            bucket=bucket, key=key, etag=etag, chunk_index=chunk, record_start=0, record_end=len(values)
        ),
    )


def encoded_batches(batches: Iterable[ReadingBatch]) -> list[tuple[bytes, bytes]]:
    """(key, value) of each batch as the normalizer sends it, through the topic's codec."""
    return [READINGS.serialize(b) for b in batches]
