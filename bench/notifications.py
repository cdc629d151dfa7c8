"""The S3 event notification source, measured: publish throughput with 1 and 2 poller instances sharing the
queue, and freshness from a put to queryable with no poll asked for.

Run it with ``make bench-notifications`` or ``uv run --frozen python bench/notifications.py [options]``.
On a fresh topic suffix, bucket, SQS queue and database (all removed at the end):

1. throughput: for n in 1, 2 (``--instances``), n pollers consume the queue (their listing runs once at
   start, on the empty key prefix of the run, then hourly) while the fleet's objects are put under a prefix
   of the run's own; the clock runs from the first put to the last record published (the pollers'
   ``published_records_total``). Reported: objects/s and records/s, the share each instance took, and the
   upload time (the pollers cannot be faster than the puts);
2. freshness: a normalizer, a writer and one poller consuming notifications; one new meter-day object is
   put (``--tries`` times) and the clock stops when all its readings are in the table: no ``POST /poll``,
   no listing, only the notification.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from meterflow_harness.metrics import metric_value
from meterflow_harness.names import unique
from meterflow_harness.paths import REPO
from meterflow_harness.pipeline import Pipeline
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers, start_missing_servers, stop_servers
from meterflow_harness.waiting import wait_until

sys.path.insert(0, str(REPO))
from meterflow_cli.demo import readings_count
from meterflow_cli.demo_cmd import render

from bench.e2e import HTTP, Fleet, freshness_figures, seconds_until_queryable
from bench.progress import log
from bench.scratch import Resources, upload


@dataclass
class Queue:
    """An SQS queue of the run that the bucket notifies of created and removed objects."""

    servers: Servers
    bucket: str
    url: str = ""

    def create(self) -> Queue:
        sqs = self.servers.sqs_client()
        self.url = sqs.create_queue(QueueName=unique("mf-bench-notify-"))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]
        self.servers.s3_client().put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": events}]},
        )
        return self

    def delete(self) -> None:
        if self.url:
            self.servers.sqs_client().delete_queue(QueueUrl=self.url)


def consumer(pipeline: Pipeline, queue: Queue, name: str, prefix: str) -> ServiceProcess:
    return pipeline.poller(
        name=name,
        POLLER_PREFIXES=prefix,
        POLLER_NOTIFICATION_QUEUE_URL=queue.url,
        POLLER_NOTIFICATION_WAIT_S="1",
        POLLER_INTERVAL_S="3600",
        POLLER_JITTER_S="0",
    )


def published(pollers: list[ServiceProcess]) -> list[float]:
    return [metric_value(p.metrics(), "meterflow_poller_published_records_total") for p in pollers]


def throughput(pipeline: Pipeline, queue: Queue, fleet: Fleet, instances: int) -> dict[str, Any]:
    prefix = f"run{instances}/"
    pollers = [pipeline.start(consumer(pipeline, queue, f"poller-n{instances}-{i}", prefix)) for i in range(instances)]
    try:
        for poller in pollers:
            poller.wait_healthy(60)
        objects = {prefix + key: body for key, body in fleet.objects.items()}
        started = time.perf_counter()
        upload_s = upload(pipeline.servers, pipeline.bucket, objects)

        def all_published() -> bool:
            for poller in pollers:
                poller.assert_running()
            return sum(published(pollers)) >= fleet.records

        wait_until(all_published, 900, f"{fleet.records:,} records published by {instances} poller(s)", interval=0.1)
        seconds = time.perf_counter() - started
        shares = published(pollers)
        log(f"{instances} poller(s): {len(objects) / seconds:,.0f} objects/s, upload {upload_s:.1f} s")
        return {
            "instances": instances,
            "objects": len(objects),
            "records": fleet.records,
            "seconds": round(seconds, 2),
            "upload_seconds": round(upload_s, 2),
            "objects_per_s": round(len(objects) / seconds, 1),
            "records_per_s": round(fleet.records / seconds),
            "records_per_instance": shares,
            "delay_mean_s": delay_mean(pollers),
        }
    finally:
        for poller in pollers:
            poller.stop(30)


def delay_mean(pollers: list[ServiceProcess]) -> float | None:
    """The pollers' own event-to-published delay (meterflow_poller_notification_delay_seconds): the mean."""
    total = sum(metric_value(p.metrics(), "meterflow_poller_notification_delay_seconds_sum") for p in pollers)
    count = sum(metric_value(p.metrics(), "meterflow_poller_notification_delay_seconds_count") for p in pollers)
    return round(total / count, 3) if count else None


def freshness(pipeline: Pipeline, queue: Queue, fleet: Fleet, tries: int) -> dict[str, Any]:
    """Put one new meter-day object and time until its readings are queryable; the notification alone."""
    for service in (pipeline.normalizer(), pipeline.writer(), consumer(pipeline, queue, "poller", "fresh/")):
        pipeline.start(service).wait_healthy(90)
    client = pipeline.servers.s3_client()
    times: list[float] = []
    for attempt in range(tries):
        house = fleet.houses[attempt % len(fleet.houses)]
        day = fleet.start + timedelta(days=fleet.days + attempt)
        body = render(house, day, 1, fleet.seed)
        key = f"fresh/{house.muid}/{day.isoformat()}.json"

        def put(key: str = key, body: bytes = body) -> None:
            client.put_object(Bucket=pipeline.bucket, Key=key, Body=body)  # no poll asked for

        times.append(seconds_until_queryable(pipeline, pipeline.dsn, house.muid, day, readings_count(house, 1), put))
        log(f"freshness try {attempt + 1}: {times[-1]:.3f} s")
    return freshness_figures(times)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000, help="objects per throughput run (default 1000)")
    parser.add_argument("--days", type=int, default=2, help="days per object (default 2)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--instances", default="1,2", help="poller counts, comma-separated (default 1,2)")
    parser.add_argument("--tries", type=int, default=10, help="freshness tries (default 10)")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/notifications-<UTC>.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.run import CACHE, RESULTS, machine, make_fleet

    args = parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.out or RESULTS / f"notifications-{stamp}.json"
    servers = Servers.from_env()
    started_servers = start_missing_servers(announce=log)
    res = Resources(servers)
    results: dict[str, Any] = {"started_at": datetime.now().astimezone().isoformat(timespec="seconds")}
    queue: Queue | None = None
    pipeline: Pipeline | None = None
    try:
        results["machine"] = machine(servers)
        fleet = make_fleet(args.meters, args.days, args.seed, date(2023, 2, 1), 0.2, True)
        results["fleet"] = {"objects": len(fleet.objects), "records": fleet.records}
        res.create_topics()
        res.create_bucket()
        queue = Queue(servers, res.bucket).create()
        dsn = res.database("notify")
        logs = CACHE / "runs" / f"notifications-{stamp}" / "logs"
        pipeline = Pipeline(servers, res.topics, dsn, res.bucket, logs, http=HTTP)
        results["throughput"] = [throughput(pipeline, queue, fleet, int(n)) for n in args.instances.split(",")]
        results["freshness"] = freshness(pipeline, queue, fleet, args.tries)
        results["finished_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    finally:
        if pipeline is not None:
            for unclean in pipeline.stop(60):
                log(unclean)
        if queue is not None:
            queue.delete()
        res.close()
        stop_servers(started_servers, announce=log)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(json.dumps({k: results.get(k) for k in ("throughput", "freshness")}, indent=2))
    log(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
