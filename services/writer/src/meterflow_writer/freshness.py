"""Freshness of committed readings, measured by the writer right after its commit: the only moment a
reading is known to be queryable. Labels are bounded (source bucket, tenant), never the meter.

The freshness SLI (docs/slo.md) is the share of readings queryable within N seconds of their source object
landing in the bucket (its S3 LastModified, carried in every message's source position). Readings of a
message count once its batch commits; the few rows a database rejection removes from a batch still count
(they go to the DLQ, whose own alert covers them).
"""

from __future__ import annotations

from collections.abc import Sequence

from meterflow_contracts import ReadingBatch, ReadingColumns
from prometheus_client import Gauge

from meterflow_writer import metrics

# The thresholds the SLI can be read at (the SLO uses 1800 s); cumulative like histogram buckets.
QUERYABLE_WITHIN_SECONDS = (60, 300, 600, 1800, 3600, 21600)


def _count_every_threshold_from_zero() -> None:
    """So that rate() sees the first increments of a threshold (a series born at 1 hides its increase)."""
    for seconds in QUERYABLE_WITHIN_SECONDS:
        metrics.QUERYABLE_WITHIN.labels(seconds=str(seconds))


_count_every_threshold_from_zero()


def _newest_reading_s(message: ReadingBatch | ReadingColumns) -> float:
    """Epoch seconds of the message's last reading (readings are ascending)."""
    if isinstance(message, ReadingBatch):
        return message.readings[-1][0].timestamp()
    return message.ts_us[-1] / 1_000_000


def observe_committed(messages: Sequence[ReadingBatch | ReadingColumns], committed_at: float) -> None:
    """Count the committed messages' readings against the freshness thresholds and move the newest
    reading and newest landing gauges of their (source, tenant) forward."""
    newest_reading: dict[tuple[str, str], float] = {}
    newest_landed: dict[tuple[str, str], float] = {}
    for message in messages:
        key = (message.source.bucket, _tenant_of(message))
        newest = _newest_reading_s(message)
        newest_reading[key] = max(newest, newest_reading.get(key, newest))
        landed_at = message.source.last_modified
        if landed_at is None:
            continue  # a message of a producer older than the landing time: not measurable
        landed = landed_at.timestamp()
        newest_landed[key] = max(landed, newest_landed.get(key, landed))
        _count_readings(
            len(message.readings) if isinstance(message, ReadingBatch) else len(message.ts_us), committed_at - landed
        )
    for (source, tenant), at in newest_reading.items():
        _move_forward(metrics.NEWEST_READING, source, tenant, at)
    for (source, tenant), at in newest_landed.items():
        _move_forward(metrics.NEWEST_LANDED, source, tenant, at)


def _count_readings(count: int, delay_s: float) -> None:
    metrics.LANDED_READINGS.inc(count)
    for seconds in QUERYABLE_WITHIN_SECONDS:
        if delay_s <= seconds:
            metrics.QUERYABLE_WITHIN.labels(seconds=str(seconds)).inc(count)


# What each (gauge, source, tenant) shows: a replay of older data must not move a gauge back.
_shown: dict[tuple[int, str, str], float] = {}


def _move_forward(gauge: Gauge, source: str, tenant: str, at: float) -> None:
    key = (id(gauge), source, tenant)
    if at > _shown.get(key, float("-inf")):
        _shown[key] = at
        gauge.labels(source=source, tenant=tenant).set(at)


# The tenant label of unowned data: not a valid tenant slug, and not empty (Prometheus drops empty labels).
NO_TENANT = "-"


def _tenant_of(message: ReadingBatch | ReadingColumns) -> str:
    # The readings contract gains an optional tenant (issue 13); before it, every message is unowned.
    tenant = getattr(message, "tenant", None)
    return tenant if isinstance(tenant, str) and tenant else NO_TENANT
