"""Prometheus metrics of the normalizer (meterflow_normalizer_*)."""

from __future__ import annotations

from meterflow_contracts import DlqReason
from prometheus_client import Counter, Gauge, Histogram

RAW_BATCHES = Counter("meterflow_normalizer_raw_batches_total", "Raw batches consumed.")
RAW_BATCH_RETRIES = Counter(
    "meterflow_normalizer_raw_batch_retries_total",
    "Raw batches handled again after a failure (a send the broker refused, an unexpected error).",
)
RECORDS_IN = Counter("meterflow_normalizer_records_total", "Source records consumed.")
READINGS_OUT = Counter("meterflow_normalizer_readings_total", "Typed readings published.")
BATCHES_OUT = Counter("meterflow_normalizer_reading_batches_total", "Reading batches published.")
DLQ_RECORDS = Counter("meterflow_normalizer_dlq_records_total", "Records sent to the dead-letter topic.", ["reason"])
STALE_BATCHES = Counter(
    "meterflow_normalizer_stale_raw_batches_total",
    "Raw batches refused: published by a poller leader older than one already seen for the object.",
)
BATCH_SECONDS = Histogram(
    "meterflow_normalizer_batch_duration_seconds",
    "Time to normalize and publish one raw batch.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CONSUMER_LAG = Gauge(
    "meterflow_normalizer_consumer_lag_messages", "Messages behind the partition end.", ["topic", "partition"]
)
CONSUMER_OLDEST_UNPROCESSED = Gauge(
    "meterflow_normalizer_consumer_oldest_unprocessed_timestamp_seconds",
    "Broker timestamp of the oldest raw message the group has not processed (now when none waits): the time "
    "lag is time() minus it.",
    ["topic"],
)


def _count_every_reason_from_zero() -> None:
    """A counter series born at its first increment hides that increment from rate() and increase(): the
    DLQ alert would miss the first dead letters of a reason. Every reason starts at 0 instead."""
    for reason in DlqReason:
        DLQ_RECORDS.labels(reason=reason.value)


_count_every_reason_from_zero()
