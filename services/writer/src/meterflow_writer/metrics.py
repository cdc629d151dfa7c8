"""Prometheus metrics of the writer (meterflow_writer_*)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS_WRITTEN = Counter("meterflow_writer_rows_total", "Readings loaded (inserted or confirmed unchanged).")
ROWS_INSERTED = Counter("meterflow_writer_rows_inserted_total", "Readings that were new.")
ROWS_CHANGED = Counter("meterflow_writer_rows_changed_total", "Readings whose value or quality changed.")
DLQ_ROWS = Counter("meterflow_writer_dlq_rows_total", "Readings the database rejected, sent to the DLQ.")
BATCH_ROWS = Histogram(
    "meterflow_writer_batch_rows",
    "Readings per database transaction.",
    buckets=(100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000),
)
COPY_SECONDS = Histogram(
    "meterflow_writer_copy_duration_seconds",
    "COPY into staging plus upsert, per transaction.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RETRIES = Counter("meterflow_writer_retries_total", "Database write attempts that failed and were retried.")
LAST_WRITE = Gauge("meterflow_writer_last_success_timestamp_seconds", "Unix time of the last committed write.")
CONSUMER_LAG = Gauge(
    "meterflow_writer_consumer_lag_messages", "Messages behind the partition end.", ["topic", "partition"]
)
READY = Gauge("meterflow_writer_ready", "1 while the database is reachable and the consumer runs.")
