"""The scaling benchmark: one fleet through 1-3 normalizers and 1-3 writers on 12 partitions, under churn.

The same fleet goes through 1, 2 and 3 normalizers and 1, 2 and 3 writers on 12 partitions, one instance
added and one removed during every run (rebalances under load).

Run it with ``make bench-scale`` or ``uv run --frozen python bench/run.py --scale [options]`` (``--help``).
On a fresh topic suffix, bucket and databases (all removed at the end):

1. the fleet (``bench/run.py``'s generator) is uploaded and published once by ``meterflow-poller --once``
   into ``meter.raw.v1`` with 12 partitions, outside every clock;
2. normalizer runs: for n in 1, 2, 3, n normalizers (their own group) read the whole raw topic into a
   readings topic of that run (12 partitions); when a third of the readings are out one more instance
   starts, at two thirds the first one stops (SIGTERM: a clean leave). Done when the group has committed
   the end of every partition;
3. writer runs: for n in 1, 2, 3, n writers (their own group) load normalizer run n's readings topic into a
   fresh database, with the same add and remove; done when ``count(*)`` reaches the fleet's readings. The
   table is then checked: lost = readings missing, duplicated = rows beyond the fleet's readings (the
   primary key makes a duplicate row impossible; a redelivery is an idempotent upsert).

A run's clock starts at its first reading out (the starting instances' group formation included) and stops
at its last (the stage's progress counters, sampled every 0.25 s). Reported per run: readings/s, the
rebalance pause after each change (the longest stretch without progress of the stage in the 30 s after it),
and the CPU seconds of the stage's processes (each from its start or the clock's, to its stop or the end),
per reading: the figure that carries to bigger machines. The machine's busy CPU shows how much of it other
work took (a shared machine's figures are noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
from meterflow_contracts import READINGS, TopicDurability
from meterflow_contracts.admin import create_topics
from meterflow_harness.kafka import GroupProbe, delete_topics
from meterflow_harness.metrics import metric_value
from meterflow_harness.paths import REPO
from meterflow_harness.pipeline import Pipeline, Topics
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers, start_missing_servers, stop_servers

sys.path.insert(0, str(REPO))
import itertools

from bench.e2e import HTTP, Fleet, count_rows
from bench.measuring import CpuMeter, kafka_pid, server_pids, tree_cpu_seconds
from bench.progress import log
from bench.scratch import Resources, upload

PARTITIONS = 12
SAMPLE_S = 0.25
PAUSE_WINDOW_S = 30.0
PROGRESS_METRIC = {"normalizer": "meterflow_normalizer_readings_total", "writer": "meterflow_writer_rows_total"}


@dataclass
class StageRun:
    """The instances of one stage during one run: progress, membership changes and CPU seconds."""

    pipeline: Pipeline
    kind: str
    make: Callable[[str], ServiceProcess]
    expected: int
    live: list[ServiceProcess] = field(default_factory=list)
    retired_progress: float = 0.0
    cpu_start: dict[str, float] = field(default_factory=dict)
    cpu_used: dict[str, float] = field(default_factory=dict)
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic time, readings so far)
    events: list[tuple[float, str]] = field(default_factory=list)
    started: int = 0

    def add(self) -> ServiceProcess:
        self.started += 1
        service = self.pipeline.start(self.make(f"{self.kind}-{self.started}"))
        self.live.append(service)
        self.cpu_start[service.name] = 0.0  # born inside the run: all its CPU counts
        return service

    def remove_first(self) -> None:
        service = self.live.pop(0)
        self.retired_progress += self._progress_of(service)
        self.cpu_used[service.name] = tree_cpu_seconds(service.pid) - self.cpu_start[service.name]
        service.stop(60)

    def _progress_of(self, service: ServiceProcess) -> float:
        try:
            return metric_value(service.metrics(), PROGRESS_METRIC[self.kind])
        except httpx.HTTPError:
            return 0.0

    def sample(self) -> float:
        for service in self.live:
            service.assert_running()
        done = self.retired_progress + sum(self._progress_of(s) for s in self.live)
        self.samples.append((time.monotonic(), done))
        return done

    def mark(self, what: str) -> None:
        self.events.append((time.monotonic(), what))
        log(f"{self.kind}: {what}")

    def restart_cpu_clock(self) -> None:
        self.cpu_start = {s.name: tree_cpu_seconds(s.pid) for s in self.live}

    def finish_cpu(self) -> float:
        for service in self.live:
            self.cpu_used[service.name] = tree_cpu_seconds(service.pid) - self.cpu_start[service.name]
        return sum(self.cpu_used.values())


@dataclass
class Finished:
    """Whether a run is done, by an exact check (the group's lag, the table's count) at most once a second.
    The stage's counters cannot tell: a stopped instance's last work after its final scrape is not in
    them, and a redelivered message counts twice."""

    exact: Callable[[], bool]
    checked_at: float = 0.0

    def __call__(self) -> bool:
        if time.monotonic() - self.checked_at < 1.0:
            return False
        self.checked_at = time.monotonic()
        return self.exact()


def progress_times(samples: list[tuple[float, float]]) -> list[float]:
    """The sample times at which the stage had made progress since the previous sample."""
    return [t for (t, done), (_, before) in zip(samples[1:], samples, strict=False) if done > before]


def pause_after(event_at: float, moved: list[float], until: float) -> float:
    """The longest stretch without progress between an event and ``until`` (the first progress after it
    counts from the event itself)."""
    if until <= event_at:  # the run ended before the event's change could show
        return 0.0
    stretch = [t for t in moved if event_at < t <= until]
    if not stretch:
        return until - event_at
    edges = [event_at, *stretch]
    return max(b - a for a, b in itertools.pairwise(edges))


def server_cpu_pids() -> dict[str, int]:
    pids = server_pids()
    broker = kafka_pid()
    if broker is not None:
        pids["kafka"] = broker
    return pids


def drive(run: StageRun, instances: int, done: Callable[[], bool], timeout: float) -> dict[str, Any]:
    """Start ``instances``, add one at a third, remove the first at two thirds, until ``done``."""
    for _ in range(instances):
        run.add()
    for service in run.live:
        service.wait_healthy(90)
    deadline = time.monotonic() + timeout
    first = 0.0
    while run.sample() <= 0:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run.kind}: no progress within {timeout:.0f} s")
        time.sleep(SAMPLE_S / 5)
    first = run.samples[-1][0]
    run.restart_cpu_clock()
    machine = CpuMeter(server_cpu_pids()).start()
    added = removed = False
    next_log = first + 5
    while not done():
        progressed = run.sample()
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"{run.kind}: {progressed:.0f} of {run.expected} after {timeout:.0f} s")
        if not added and progressed >= run.expected / 3:
            run.mark(f"adds {run.kind}-{run.started + 1} at {progressed:,.0f} readings")
            run.add()
            added = True
        elif added and not removed and progressed >= 2 * run.expected / 3:
            run.mark(f"removes {run.live[0].name} at {progressed:,.0f} readings")
            run.remove_first()
            removed = True
        if now >= next_log:
            log(f"{run.kind} x{instances}: {progressed:,.0f} of {run.expected:,}")
            next_log = now + 5
        time.sleep(SAMPLE_S)
    run.sample()
    cpu = run.finish_cpu()
    servers_cpu = machine.stop()
    moved = progress_times(run.samples)
    last = moved[-1] if moved else run.samples[-1][0]
    seconds = max(last - first, SAMPLE_S)  # a tiny fleet can be done within one sample
    changes = [*run.events, (last, "end")]
    pauses = {
        what.split(" at ")[0]: round(pause_after(at, moved, min(at + PAUSE_WINDOW_S, next_at)), 2)
        for (at, what), (next_at, _) in itertools.pairwise(changes)
    }
    return {
        "instances": instances,
        "seconds": round(seconds, 2),
        "readings_per_s": round(run.expected / seconds),
        "rebalance_pauses_s": pauses,
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_reading": cpu / run.expected,
        "readings_per_cpu_second": round(run.expected / cpu) if cpu else None,
        "cpu_seconds_by_instance": {k: round(v, 2) for k, v in run.cpu_used.items()},
        "servers_and_machine": servers_cpu,
    }


@dataclass
class Scale:
    """One scaling benchmark: the scratch resources, the fleet and the results."""

    servers: Servers
    res: Resources
    fleet: Fleet
    log_dir: Path
    extra_topics: list[str] = field(default_factory=list)

    def pipeline(self, label: str, readings_topic: str, dsn: str = "") -> Pipeline:
        topics = replace(Topics.with_suffix(self.res.suffix), readings=readings_topic)
        return Pipeline(self.servers, topics, dsn, self.res.bucket, self.log_dir / label, http=HTTP)

    def readings_topic(self, n: int) -> str:
        spec = replace(READINGS, name=f"{READINGS.name}{self.res.suffix}.n{n}", partitions=PARTITIONS)
        durability = TopicDurability.single_broker()
        asyncio.run(create_topics(self.servers.kafka, [spec], durability=durability))
        self.extra_topics.append(spec.name)
        return spec.name

    def publish(self) -> float:
        upload(self.servers, self.res.bucket, self.fleet.objects)
        started = time.perf_counter()
        self.pipeline("poller", self.res.topics.readings).poll_once(timeout=900)
        return time.perf_counter() - started

    def normalizers(self, n: int, readings_topic: str) -> dict[str, Any]:
        pipeline = self.pipeline(f"normalizer-x{n}", readings_topic)
        group = f"normalizer{self.res.suffix}.n{n}"
        run = StageRun(pipeline, "normalizer", lambda name: pipeline.normalizer(name, NORMALIZER_APP_ID=group), 0)
        run.expected = self.fleet.readings

        async def behind() -> int:
            async with GroupProbe(self.servers.kafka, group, pipeline.topics.raw) as probe:
                return await probe.behind()

        try:
            return drive(run, n, Finished(lambda: asyncio.run(behind()) == 0), 1800)
        finally:
            pipeline.stop(60)

    def writers(self, n: int, readings_topic: str) -> dict[str, Any]:
        dsn = self.res.database(f"scale_w{n}")
        pipeline = self.pipeline(f"writer-x{n}", readings_topic, dsn)
        group = f"writer{self.res.suffix}.n{n}"
        run = StageRun(pipeline, "writer", lambda name: pipeline.writer(name, WRITER_GROUP_ID=group), 0)
        run.expected = self.fleet.readings
        try:
            figures = drive(run, n, Finished(lambda: count_rows(dsn) >= run.expected), 1800)
        finally:
            pipeline.stop(60)
        figures["table"] = self.check_table(dsn)
        self.res.drop(dsn)
        return figures

    def check_table(self, dsn: str) -> dict[str, int]:
        rows = count_rows(dsn)
        distinct = count_rows(dsn, "SELECT count(*) FROM (SELECT DISTINCT muid, obis, ts FROM readings) AS keys")
        expected = self.fleet.readings
        return {
            "rows": rows,
            "lost": max(0, expected - distinct),
            "duplicated": rows - distinct + max(0, distinct - expected),
        }

    def close(self) -> None:
        if self.extra_topics:
            asyncio.run(delete_topics(self.servers.kafka, self.extra_topics))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--meters", type=int, default=600, help="households in the fleet (default 600)")
    parser.add_argument("--days", type=int, default=28, help="days of 15-minute readings (default 28)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--instances", default="1,2,3", help="instance counts to run, comma-separated (default 1,2,3)")
    parser.add_argument("--no-cache", action="store_true", help="generate the fleet again (not from .local/bench)")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/scale-<UTC timestamp>.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from bench.run import CACHE, RESULTS, machine, make_fleet

    args = parse_args(argv)
    counts = [int(c) for c in args.instances.split(",")]
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.out or RESULTS / f"scale-{stamp}.json"
    servers = Servers.from_env()
    started_servers = start_missing_servers(announce=log)
    res = Resources(servers, partitions=PARTITIONS)
    results: dict[str, Any] = {"started_at": datetime.now().astimezone().isoformat(timespec="seconds")}
    scale: Scale | None = None
    try:
        results["machine"] = machine(servers)
        fleet = make_fleet(args.meters, args.days, args.seed, date(2023, 2, 1), 0.2, not args.no_cache)
        results["fleet"] = {"meters": args.meters, "days": args.days, "readings": fleet.readings}
        results["partitions"] = PARTITIONS
        res.create_topics()
        res.create_bucket()
        scale = Scale(servers, res, fleet, CACHE / "runs" / f"scale-{stamp}" / "logs")
        log(f"publishing {len(fleet.objects)} objects ({fleet.readings:,} readings) to the raw topic")
        results["publish_seconds"] = round(scale.publish(), 2)
        topics = {n: scale.readings_topic(n) for n in counts}
        for n in counts:
            log(f"normalizers: {n} (+1, -1)")
            results.setdefault("normalizer", {})[str(n)] = scale.normalizers(n, topics[n])
        for n in counts:
            log(f"writers: {n} (+1, -1)")
            results.setdefault("writer", {})[str(n)] = scale.writers(n, topics[n])
        results["finished_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    except BaseException as error:
        results["error"] = repr(error)
        raise
    finally:
        if scale is not None:
            scale.close()
        res.close()
        stop_servers(started_servers, announce=log)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_scale(results, out)
    return 0


def print_scale(results: dict[str, Any], out: Path) -> None:
    print(f"\nscaling on {results['partitions']} partitions, {results['fleet']['readings']:,} readings ({out})")
    print("stage       n  readings/s  CPU s/reading   readings per CPU s  pauses (s)          lost dup")
    for kind in ("normalizer", "writer"):
        for n, run in results.get(kind, {}).items():
            table = run.get("table", {})
            print(
                f"{kind:<11} {n:>1}  {run['readings_per_s']:>10,}  {run['cpu_seconds_per_reading']:.3e}"
                f"      {run['readings_per_cpu_second'] or 0:>10,}          {run['rebalance_pauses_s']}"
                f"  {table.get('lost', '-')} {table.get('duplicated', '-')}"
            )


if __name__ == "__main__":
    sys.exit(main())
