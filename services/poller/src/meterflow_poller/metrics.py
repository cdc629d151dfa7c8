"""Prometheus metrics of the poller (meterflow_poller_*)."""

from __future__ import annotations

from meterflow_contracts import DlqReason
from prometheus_client import Counter, Gauge, Histogram

OBJECTS = Counter(
    "meterflow_poller_objects_total",
    "Objects per poll, by outcome: listed, then new, changed or skipped; of those published: failed "
    "(rejected to the DLQ), vanished (changed during the poll) or unreadable (S3 refused to read it: skipped, "
    "tried again next poll); deleted (checkpoint tombstoned).",
    ["outcome"],
)
LISTING_DISTRUSTED = Counter(
    "meterflow_poller_listing_distrusted_total",
    "Listings not acted on for deletions: empty (nothing listed although checkpoints exist) and unconfirmed "
    "(objects missing from one listing but present in the second, or the second was empty), by reason.",
    ["reason"],
)
BYTES_PUBLISHED = Counter("meterflow_poller_published_bytes_total", "Source bytes read and published.")
RECORDS_PUBLISHED = Counter("meterflow_poller_published_records_total", "Source records published.")
MESSAGES_PUBLISHED = Counter("meterflow_poller_published_messages_total", "Raw messages (chunks) published.")
DLQ_RECORDS = Counter("meterflow_poller_dlq_records_total", "Dead letters published, by reason.", ["reason"])
POLL_SECONDS = Histogram(
    "meterflow_poller_poll_duration_seconds",
    "Duration of one complete poll.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
LAST_SUCCESS = Gauge("meterflow_poller_last_success_timestamp_seconds", "Unix time of the last complete poll.")
ERRORS = Counter(
    "meterflow_poller_errors_total",
    "Polls that failed, by kind: s3, s3_config, http, http_config, kafka, internal.",
    ["kind"],
)
READY = Gauge("meterflow_poller_ready", "1 while ready: a standby, or the leader after a poll that worked.")
LEADER = Gauge("meterflow_poller_leader", "1 while this instance is the elected leader that polls.")
NOTIFICATIONS = Counter(
    "meterflow_poller_notifications_total",
    "S3 event notifications from the queue, by outcome: received (queue messages), published, skipped "
    "(the checkpointed version), removed (checkpoint tombstoned), gone (the object no longer exists), "
    "ignored (another bucket or prefix), invalid (not an S3 notification: deleted from the queue).",
    ["outcome"],
)
NOTIFICATION_DELAY = Histogram(
    "meterflow_poller_notification_delay_seconds",
    "From the event time S3 gives a created object to its last chunk acknowledged by Kafka.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
NOTIFICATION_ERRORS = Counter(
    "meterflow_poller_notification_errors_total",
    "Batches of notifications that failed (left in the queue, redelivered after the visibility timeout), by "
    "kind: sqs, sqs_config, s3, kafka, internal.",
    ["kind"],
)

# Per source (the sources of POLLER_SOURCES_FILE, or "default"): a bounded label, one value per source.
SOURCE_UP = Gauge("meterflow_poller_source_up", "1 while the source's last poll worked, 0 after a failure.", ["source"])
SOURCE_LEADER = Gauge("meterflow_poller_source_leader", "1 while this instance leads the source's listing.", ["source"])
SOURCE_LAST_SUCCESS = Gauge(
    "meterflow_poller_source_last_success_timestamp_seconds",
    "Unix time of the source's last complete poll.",
    ["source"],
)
SOURCE_ERRORS = Counter(
    "meterflow_poller_source_errors_total", "Failed polls of the source, by kind (as errors_total).", ["source", "kind"]
)
SOURCE_OBJECTS = Counter(
    "meterflow_poller_source_objects_total",
    "Objects per poll of the source, by outcome (as objects_total).",
    ["source", "outcome"],
)

# HTTP sources (http_source.py).
HTTP_REQUESTS = Counter(
    "meterflow_poller_http_requests_total",
    "Requests of an http source, by answer: the HTTP status, or timeout / error (no answer).",
    ["source", "status"],
)
HTTP_BAD_BODIES = Counter(
    "meterflow_poller_http_bad_bodies_total",
    "Response bodies dead-lettered (the window is fetched again next poll), by code: content_type, truncated, "
    "invalid_json, shape.",
    ["source", "code"],
)
HTTP_WINDOWS = Counter(
    "meterflow_poller_http_windows_total",
    "Windows of an http source, by outcome: completed (checkpointed), bad_body, failed (no answer).",
    ["source", "outcome"],
)
HTTP_RECORDS = Counter(
    "meterflow_poller_http_records_total",
    "Records of an http source, by outcome: published, duplicate (repeated within its window: dropped).",
    ["source", "outcome"],
)


def _count_every_reason_from_zero() -> None:
    """A counter series born at its first increment hides that increment from rate() and increase(): the
    DLQ alert would miss the first dead letters of a reason. Every reason starts at 0 instead."""
    for reason in DlqReason:
        DLQ_RECORDS.labels(reason=reason.value)


_count_every_reason_from_zero()
