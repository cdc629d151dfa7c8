"""Prometheus metrics of the writer (meterflow_writer_*)."""

from __future__ import annotations

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
