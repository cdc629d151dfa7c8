"""Prometheus metrics of the writer (meterflow_writer_*)."""

from __future__ import annotations

from meterflow_contracts import DlqReason
from prometheus_client import Counter, Gauge, Histogram

ROWS_WRITTEN = Counter(
    "meterflow_writer_rows_total", "Readings loaded into PostgreSQL (inserted, changed or confirmed unchanged)."
)
ROWS_INSERTED = Counter("meterflow_writer_rows_inserted_total", "Readings that were new.")
ROWS_CHANGED = Counter(
    "meterflow_writer_rows_changed_total", "Stored readings whose value or quality changed (a newer source version)."
)
METERS_ASSIGNED = Counter(
    "meterflow_writer_meters_assigned_total", "Unowned meters assigned to the tenant their source is bound to."
)
METERS_OWNED_ELSEWHERE = Counter(
    "meterflow_writer_meters_owned_elsewhere_total",
    "Meters of a bound source that already belong to another tenant (kept there; never reassigned), per batch.",
)
DLQ_ROWS = Counter(
    "meterflow_writer_dlq_rows_total", "Readings rejected (boundary check or database), sent to the DLQ."
)
DLQ_RECORDS = Counter(
    "meterflow_writer_dlq_records_total", "Dead letters the writer produced (messages), by reason.", ["reason"]
)
BATCH_ROWS = Histogram(
    "meterflow_writer_batch_rows",
    "Readings per batch (one transaction unless rows were rejected).",
    buckets=(100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000),
)
COPY_SECONDS = Histogram(
    "meterflow_writer_copy_duration_seconds",
    "COPY of one transaction's rows into the staging table.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WRITE_SECONDS = Histogram(
    "meterflow_writer_write_duration_seconds",
    "One write transaction: COPY into staging, upsert into readings, commit.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
RETRIES = Counter("meterflow_writer_retries_total", "Database operations that failed and were retried.")
LAST_WRITE = Gauge("meterflow_writer_last_success_timestamp_seconds", "Unix time of the last committed write.")
CONSUMER_LAG = Gauge(
    "meterflow_writer_consumer_lag_messages",
    "Messages between the partition end and the last offset this writer made durable.",
    ["topic", "partition"],
)
ASSIGNED_PARTITIONS = Gauge("meterflow_writer_assigned_partitions", "Partitions this instance consumes.")
PENDING_ROWS = Gauge("meterflow_writer_pending_rows", "Readings consumed but not yet durable (in memory).")
WRITES_IN_FLIGHT = Gauge(
    "meterflow_writer_writes_in_flight", "Batches the loader took whose offsets are not committed yet."
)
ORDERED_WRITES = Counter(
    "meterflow_writer_ordered_writes_total",
    "Batches that waited for an earlier batch in flight that may hold the same readings (Kafka order kept).",
)
REBALANCES = Counter("meterflow_writer_rebalances_total", "Consumer-group rebalances this instance took part in.")
BATCHES_DROPPED = Counter(
    "meterflow_writer_batches_dropped_total",
    "Batches dropped unwritten because their partitions were revoked (the new owner re-reads them).",
)
REFRESH_SECONDS = Histogram(
    "meterflow_writer_aggregate_refresh_duration_seconds",
    "One refresh round of the continuous aggregates over marked day buckets (TimescaleDB only).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REFRESHED_BUCKETS = Counter(
    "meterflow_writer_aggregate_refreshed_buckets_total",
    "Marked (series, day) buckets whose aggregates were refreshed after a write (TimescaleDB only).",
)
OLDEST_MARK_AGE = Gauge(
    "meterflow_writer_aggregate_oldest_mark_age_seconds",
    "Age of the oldest day bucket a write marked and no refresh has covered yet (TimescaleDB only): the "
    "aggregates may be stale there. Alert when it stays above a few refresh intervals.",
)
READY = Gauge("meterflow_writer_ready", "1 while the database is reachable and the consumer runs.")
CONSUMER_OLDEST_UNPROCESSED = Gauge(
    "meterflow_writer_consumer_oldest_unprocessed_timestamp_seconds",
    "Broker timestamp of the oldest readings message the group has not made durable (now when none waits): "
    "the time lag is time() minus it.",
    ["topic"],
)
# Freshness (freshness.py): bounded labels, the source bucket and the tenant, never the meter.
LANDED_READINGS = Counter(
    "meterflow_writer_landed_readings_total",
    "Readings committed whose source object's landing time (S3 LastModified) is known: the freshness SLI's "
    "denominator.",
)
QUERYABLE_WITHIN = Counter(
    "meterflow_writer_readings_queryable_within_total",
    "Readings committed at most `seconds` after their source object landed in the bucket (cumulative, like "
    "histogram buckets): the freshness SLI's numerator.",
    ["seconds"],
)
NEWEST_READING = Gauge(
    "meterflow_writer_newest_reading_timestamp_seconds",
    "Interval start of the newest reading committed, by source bucket and tenant: its age is the age of "
    "the newest queryable reading.",
    ["source", "tenant"],
)
NEWEST_LANDED = Gauge(
    "meterflow_writer_newest_landed_timestamp_seconds",
    "Landing time (S3 LastModified) of the newest source object whose readings were committed, by source "
    "bucket and tenant.",
    ["source", "tenant"],
)
# Completeness (completeness.py): fleet-wide, read from the channels table.
SILENT_METERS = Gauge(
    "meterflow_writer_silent_meters",
    "Meters whose every channel has been silent for more than two of its intervals (as of the last check).",
)
EXPECTED_INTERVALS = Gauge(
    "meterflow_writer_expected_intervals_last_day",
    "Intervals the channels should have delivered in the last 24 hours (from each channel's first reading).",
)
MISSING_INTERVALS = Gauge(
    "meterflow_writer_missing_intervals_last_day",
    "Of those, intervals without a reading.",
)
COMPLETENESS_CHECKED = Gauge(
    "meterflow_writer_completeness_checked_timestamp_seconds", "Unix time of the last completeness check."
)


def _count_every_reason_from_zero() -> None:
    """A counter series born at its first increment hides that increment from rate() and increase(): the
    DLQ alert would miss the first dead letters of a reason. Every reason starts at 0 instead."""
    for reason in DlqReason:
        DLQ_RECORDS.labels(reason=reason.value)


_count_every_reason_from_zero()
