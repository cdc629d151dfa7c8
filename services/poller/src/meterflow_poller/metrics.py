"""Prometheus metrics of the poller (meterflow_poller_*)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OBJECTS = Counter(
    "meterflow_poller_objects_total",
    "Objects seen per poll, by outcome: listed, new, changed, skipped, failed, deleted.",
    ["outcome"],
)
BYTES_PUBLISHED = Counter("meterflow_poller_bytes_total", "Source bytes read and published.")
RECORDS_PUBLISHED = Counter("meterflow_poller_records_total", "Source records published.")
CHUNKS_PUBLISHED = Counter("meterflow_poller_chunks_total", "Raw messages published.")
DLQ_RECORDS = Counter("meterflow_poller_dlq_records_total", "Dead letters published.", ["reason"])
POLL_SECONDS = Histogram(
    "meterflow_poller_poll_duration_seconds",
    "Duration of one poll cycle.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
LAST_SUCCESS = Gauge("meterflow_poller_last_success_timestamp_seconds", "Unix time of the last complete poll.")
ERRORS = Counter("meterflow_poller_errors_total", "Poll cycles that failed, by kind.", ["kind"])
READY = Gauge("meterflow_poller_ready", "1 while the last poll reached S3 and Kafka.")
