"""`meterflow status`: one screen for the on-call with each service's readiness, lag, freshness, last poll
and dead letters, read from the services' ops endpoints (`/readyz`, `/metrics`); no Prometheus needed.

The ops URLs default to the local stack's ports (POLLER_OPS_PORT, NORMALIZER_OPS_PORT, WRITER_OPS_PORT,
API_PORT on 127.0.0.1); ``--poller URL`` etc. point elsewhere. Exit code 0 when every service is ready.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]
SERVICES = {
    "poller": ("POLLER_OPS_PORT", 9101),
    "normalizer": ("NORMALIZER_OPS_PORT", 9102),
    "writer": ("WRITER_OPS_PORT", 9103),
    "api": ("API_PORT", 8000),
}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="each service's readiness, lag, freshness, last poll, DLQ counts")
    for name, (variable, port) in SERVICES.items():
        default = f"http://127.0.0.1:{os.environ.get(variable, port)}"
        parser.add_argument(f"--{name}", default=default, metavar="URL", help=f"ops URL (default {default})")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    parser.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    now = time.time()
    rows = [status_of(name, getattr(args, name), now) for name in SERVICES]
    if args.json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
    else:
        sys.stdout.write(table(rows))
    return 0 if all(row["state"] == "ready" for row in rows) else 1


def status_of(name: str, url: str, now: float) -> dict[str, str]:
    try:
        ready, detail = readiness(url)
        samples = parse_metrics(fetch(f"{url}/metrics"))
    except (OSError, ValueError) as error:
        return {"service": name, "state": "down", "detail": f"{url}: {error}"}
    facts = SUMMARIES[name](samples, now)
    return {"service": name, "state": "ready" if ready else "not ready", "detail": "; ".join([detail, *facts])}


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def readiness(url: str) -> tuple[bool, str]:
    """/readyz answers 200 or 503, both with {"ready", "detail"}."""
    try:
        body = fetch(f"{url}/readyz")
    except urllib.error.HTTPError as error:
        body = error.read().decode()
    answer = json.loads(body)
    return bool(answer.get("ready")), str(answer.get("detail", ""))


def parse_metrics(text: str) -> Samples:
    samples: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name].append((dict(sample.labels), float(sample.value)))
    return samples


def total(samples: Samples, name: str) -> float:
    return sum(value for _, value in samples.get(name, []))


def highest(samples: Samples, name: str) -> float | None:
    values = [value for _, value in samples.get(name, [])]
    return max(values) if values else None


def lowest(samples: Samples, name: str) -> float | None:
    values = [value for _, value in samples.get(name, [])]
    return min(values) if values else None


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit} ago"
    return f"{seconds:.0f} s ago"


def dead_letters(samples: Samples, name: str) -> str:
    by_reason = {labels["reason"]: value for labels, value in samples.get(name, []) if value}
    if not by_reason:
        return "dlq 0"
    shown = ", ".join(f"{reason} {value:.0f}" for reason, value in sorted(by_reason.items()))
    return f"dlq {sum(by_reason.values()):.0f} ({shown})"


def time_lag(samples: Samples, name: str, now: float) -> str:
    oldest = lowest(samples, name)
    return "time lag unknown" if oldest is None else f"time lag {max(0.0, now - oldest):.0f} s"


def poller_facts(samples: Samples, now: float) -> list[str]:
    last = highest(samples, "meterflow_poller_last_success_timestamp_seconds")
    leader = "leader" if highest(samples, "meterflow_poller_leader") == 1 else "standby"
    return [
        leader,
        f"last poll {ago(now - last if last else None)}",
        dead_letters(samples, "meterflow_poller_dlq_records_total"),
    ]


def normalizer_facts(samples: Samples, now: float) -> list[str]:
    lag = total(samples, "meterflow_normalizer_consumer_lag_messages")
    return [
        f"lag {lag:.0f} messages",
        time_lag(samples, "meterflow_normalizer_consumer_oldest_unprocessed_timestamp_seconds", now),
        dead_letters(samples, "meterflow_normalizer_dlq_records_total"),
    ]


def writer_facts(samples: Samples, now: float) -> list[str]:
    lag = total(samples, "meterflow_writer_consumer_lag_messages")
    last = highest(samples, "meterflow_writer_last_success_timestamp_seconds")
    newest = highest(samples, "meterflow_writer_newest_reading_timestamp_seconds")
    expected = total(samples, "meterflow_writer_expected_intervals_last_day")
    missing = total(samples, "meterflow_writer_missing_intervals_last_day")
    completeness = f"missing {missing / expected:.1%} of the last day" if expected else "nothing due in the last day"
    return [
        f"lag {lag:.0f} messages",
        time_lag(samples, "meterflow_writer_consumer_oldest_unprocessed_timestamp_seconds", now),
        f"last write {ago(now - last if last else None)}",
        f"newest reading {ago(now - newest if newest else None)}",
        f"silent meters {total(samples, 'meterflow_writer_silent_meters'):.0f}",
        completeness,
        dead_letters(samples, "meterflow_writer_dlq_records_total"),
    ]


def api_facts(samples: Samples, now: float) -> list[str]:
    requests = samples.get("meterflow_api_requests_total", [])
    errors = sum(value for labels, value in requests if labels.get("status", "").startswith("5"))
    return [f"requests {sum(value for _, value in requests):.0f} (5xx {errors:.0f})"]


SUMMARIES: dict[str, Callable[[Samples, float], list[str]]] = {
    "poller": poller_facts,
    "normalizer": normalizer_facts,
    "writer": writer_facts,
    "api": api_facts,
}


def table(rows: list[dict[str, str]]) -> str:
    width = max(len(row["service"]) for row in rows)
    state_width = max(len(row["state"]) for row in rows)
    return "".join(f"{row['service']:<{width}}  {row['state']:<{state_width}}  {row['detail']}\n" for row in rows)
