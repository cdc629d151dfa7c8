"""The end-to-end benchmark: the real services as processes on a run's own topics, database and bucket.

Used by ``bench/run.py`` (``make bench``); not meant to be run on its own. ``run_pipeline`` loads an
uploaded fleet through the whole pipeline, timed from the first poll to the moment the last reading is
queryable, then times the freshness of single new objects, with the peak RSS of every service process
sampled all along. The processes and servers come from ``meterflow_harness``; the scratch resources from
``bench/scratch.py``, the RSS and CPU figures from ``bench/measuring.py``.
"""

from __future__ import annotations

import contextlib
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg2
from meterflow_cli.demo import Household, readings_count
from meterflow_cli.demo_cmd import render
from meterflow_contracts import RAW, READINGS
from meterflow_harness.metrics import metric_value
from meterflow_harness.pipeline import Pipeline
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers
from meterflow_harness.waiting import wait_until

from bench.measuring import SAMPLE_SECONDS, CpuMeter, PySpy, RssSampler, kafka_heap, kafka_pid, server_pids
from bench.progress import log
from bench.scratch import Resources, upload

# One keep-alive client for every scrape: a new connection per sample would cost the services CPU too.
HTTP = httpx.Client()
# The module each service's console script runs, for running it under pyinstrument instead.
MODULES = {
    "poller": "meterflow_poller.main",
    "normalizer": "meterflow_normalizer.main",
    "writer": "meterflow_writer.main",
}


@dataclass(frozen=True)
class PipelineConfig:
    normalizers: int = 1
    writers: int = 1
    profile: str | None = None  # "pyinstrument": run poller/normalizer/writer under it; "py-spy": attach it
    profile_dir: Path | None = None
    readings: str = "v2"  # the readings contract: "v2", "v1", or "both" (v2, and v1 also published)
    write_concurrency: int | None = None  # WRITER_WRITE_CONCURRENCY; None: the writer's default


class BenchPipeline(Pipeline):
    """The pipeline of one run: services scraped through one keep-alive client, under pyinstrument if asked."""

    def __init__(self, servers: Servers, res: Resources, dsn: str, log_dir: Path, config: PipelineConfig) -> None:
        topics = res.topics if config.readings != "v1" else replace(res.topics, readings=res.v1_readings)
        super().__init__(servers, topics, dsn, res.bucket, log_dir, http=HTTP)
        self.config = config
        self.res_v1_readings = res.v1_readings

    def normalizer(self, name: str = "normalizer", **env: str) -> ServiceProcess:
        if self.config.readings == "both":
            env = {"NORMALIZER_ALSO_V1_TOPIC": self.res_v1_readings, **env}
        return super().normalizer(name, **env)

    def writer(self, name: str = "writer", **env: str) -> ServiceProcess:
        if self.config.write_concurrency is not None:
            env = {"WRITER_WRITE_CONCURRENCY": str(self.config.write_concurrency), **env}
        return super().writer(name, **env)

    def command(self, name: str, kind: str) -> list[str]:
        module = MODULES.get(kind)
        if self.config.profile == "pyinstrument" and module and self.config.profile_dir is not None:
            out = self.config.profile_dir / f"{name}.pyisession"
            return [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(out), "-m", module]
        return super().command(name, kind)

    def start_poller(self) -> ServiceProcess:
        # Schedule mode, but every poll of the benchmark is asked for through POST /poll.
        return self.start(self.poller(POLLER_INTERVAL_S="86400", POLLER_JITTER_S="0"))


def assigned_partitions(service: ServiceProcess) -> int:
    """Partitions a normalizer (from /readyz) or a writer (from its gauge) currently consumes."""
    if service.name.startswith("normalizer"):
        try:
            response = service.get("/readyz", timeout=2)
        except httpx.HTTPError:
            return 0
        if response.status_code != 200:
            return 0
        match = re.match(r"(\d+) partitions", str(response.json().get("detail", "")))
        return int(match.group(1)) if match else 0
    return int(metric_value(service.metrics(), "meterflow_writer_assigned_partitions"))


def wait_assigned(services: Sequence[ServiceProcess], partitions: int, timeout: float = 90) -> None:
    """Until every partition is owned and each instance owns some, steadily for a second."""
    stable_since: list[float] = []

    def settled() -> bool:
        for service in services:
            service.assert_running()
        counts = [assigned_partitions(s) for s in services]
        if sum(counts) == partitions and all(counts):
            if not stable_since:
                stable_since.append(time.monotonic())
            return time.monotonic() - stable_since[0] >= 1.0
        stable_since.clear()
        return False

    wait_until(settled, timeout, f"{[s.name for s in services]} to own all {partitions} partitions", 0.25)


@dataclass(frozen=True)
class Fleet:
    houses: list[Household]
    start: date
    days: int
    seed: int
    objects: dict[str, bytes]  # S3 key -> body

    @property
    def readings(self) -> int:
        return sum(readings_count(h, self.days) for h in self.houses)

    @property
    def records(self) -> int:
        return len(self.houses) * self.days * 96


def measure_replay(pipeline: BenchPipeline, dsn: str) -> dict[str, Any]:
    """The replay of the loaded fleet: the writers stop, and one writer of a new consumer group reads the
    readings topic from its start into the loaded table, every reading a no-op upsert. Its clock runs from
    its first rows written to its last (its rows counter, read every 0.1 s)."""
    expected = count_rows(dsn)
    for writer in pipeline.of("writer"):
        writer.stop()
    log(f"replay: {expected:,} readings again through a writer of a new group")
    replayer = pipeline.start(pipeline.writer("writer-replay", WRITER_GROUP_ID=f"replay{pipeline.topics.suffix}"))
    replayer.wait_healthy(90)

    def written() -> float:
        return metric_value(replayer.metrics(), "meterflow_writer_rows_total")

    wait_until(lambda: written() > 0, 120, "the replay's first rows", 0.05)
    started, first = time.monotonic(), written()
    wait_until(lambda: written() >= expected, 900, f"the replay of {expected:,} rows", 0.1)
    seconds = time.monotonic() - started
    text = replayer.metrics()
    figures = {
        "rows": expected,
        "seconds": round(seconds, 2),
        "replay_readings_per_s": round((expected - first) / seconds),
        "inserted": metric_value(text, "meterflow_writer_rows_inserted_total"),
        "changed": metric_value(text, "meterflow_writer_rows_changed_total"),
        "rows_in_db": count_rows(dsn),
    }
    log(f"replay: {figures['replay_readings_per_s']:,} readings/s (inserted {figures['inserted']:.0f})")
    return figures


def count_rows(dsn: str, sql: str = "SELECT count(*) FROM readings", params: Sequence[Any] = ()) -> int:
    with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(sql, tuple(params))
        row = cur.fetchone()
        assert row is not None
        return int(row[0])


def run_pipeline(
    servers: Servers, res: Resources, fleet: Fleet, log_dir: Path, config: PipelineConfig, freshness_tries: int
) -> dict[str, Any]:
    """Load the uploaded fleet through the whole pipeline; then measure freshness. Returns the figures."""
    dsn = res.database("e2e")
    pipeline = BenchPipeline(servers, res, dsn, log_dir, config)
    sampler = RssSampler()
    pyspy: PySpy | None = None
    broker = kafka_pid()
    if broker is not None:
        sampler.watch("kafka", broker)
    try:
        log(f"starting {config.normalizers} normalizer(s), {config.writers} writer(s) and the API")
        normalizers = [pipeline.start(pipeline.normalizer(f"normalizer-{i + 1}")) for i in range(config.normalizers)]
        writers = [pipeline.start(pipeline.writer(f"writer-{i + 1}")) for i in range(config.writers)]
        api = pipeline.start(pipeline.api())
        for service in pipeline.services.values():
            sampler.watch(service.name, service.pid)
        sampler.start()
        for service in pipeline.services.values():
            service.wait_healthy(90)
        wait_until(lambda: api.get("/readyz").status_code == 200, 60, "API readiness")
        wait_assigned(normalizers, RAW.partitions)
        wait_assigned(writers, READINGS.partitions)
        poller = pipeline.start_poller()
        sampler.watch("poller", poller.pid)
        poller.wait_healthy(60)
        # Its first poll (of the still empty bucket) makes it ready: then the fleet goes in, unclocked.
        wait_until(lambda: poller.get("/readyz").status_code == 200, 90, "poller readiness (first, empty poll)")
        log(f"uploading {len(fleet.objects)} objects ({sum(map(len, fleet.objects.values())) / 2**20:.0f} MiB)")
        upload_s = upload(servers, res.bucket, fleet.objects)
        log(f"uploaded in {upload_s:.1f} s; all services healthy: polling now (the clock starts)")
        if config.profile == "py-spy" and config.profile_dir is not None:
            pyspy = PySpy(config.profile_dir)
            for service in [poller, *normalizers, *writers]:
                pyspy.attach(service.name, service.pid)
            time.sleep(2)  # let py-spy attach before the load starts
        cpu_pids = {name: service.pid for name, service in pipeline.services.items()}
        cpu_pids.update(server_pids())
        cpu_pids["bench"] = os.getpid()
        cpu = CpuMeter(cpu_pids)
        load = measure_load(pipeline, poller, fleet, dsn, cpu)
        if pyspy is not None:
            pyspy.detach()
            pyspy = None
        load["upload_seconds"] = round(upload_s, 2)
        load["kafka_heap"] = kafka_heap(broker)
        load["peak_rss_mb_load"] = sampler.peaks_mb()
        if freshness_tries > 0:
            load["freshness"] = measure_freshness(servers, res, pipeline, poller, fleet, dsn, freshness_tries)
        try:
            load["replay"] = measure_replay(pipeline, dsn)
        except Exception as error:  # the load's figures stand without it
            load["replay"] = {"error": repr(error)}
    finally:
        if pyspy is not None:
            pyspy.detach()
        for unclean in pipeline.stop(timeout=60):
            log(unclean)
        peaks = sampler.stop()
    load["peak_rss_mb"] = peaks
    load["rss_samples"] = sampler.samples
    load["logs"] = str(log_dir)
    res.drop(dsn)
    return load


def measure_load(
    pipeline: BenchPipeline, poller: ServiceProcess, fleet: Fleet, dsn: str, cpu: CpuMeter
) -> dict[str, Any]:
    expected = fleet.readings
    timeout = max(600.0, expected / 2_000)
    marks: dict[str, float] = {}
    polls_before = metric_value(poller.metrics(), "meterflow_poller_poll_duration_seconds_count")
    cpu.start()
    t0_wall = time.time()
    t0 = time.perf_counter()
    response = HTTP.post(f"{poller.ops_url}/poll", timeout=5)
    response.raise_for_status()
    last_progress = ""
    next_report = t0 + 5
    while True:
        now = time.perf_counter()
        if now - t0 > timeout:
            raise TimeoutError(f"the fleet was not queryable within {timeout:.0f} s ({last_progress})")
        try:
            done = load_step(pipeline, poller, dsn, expected, polls_before, t0, t0_wall, marks)
        except httpx.HTTPError:
            pipeline.assert_running()  # a service that died says so; otherwise the scrape failed
            raise
        if done:
            break
        if now >= next_report:
            normalized, written = done_so_far(pipeline)
            last_progress = f"normalized {normalized:.0f}, written {written:.0f} of {expected}"
            log(f"{now - t0:5.1f} s: {last_progress}")
            next_report = now + 5
        time.sleep(SAMPLE_SECONDS)
    cpu_use = cpu.stop()
    seconds = marks["queryable"]
    log(f"the fleet is queryable after {seconds:.2f} s ({expected / seconds:,.0f} readings/s)")
    poller_text = poller.metrics()
    return {
        "expected_readings": expected,
        "rows_in_db": count_rows(dsn),
        "e2e_seconds": round(seconds, 3),
        "e2e_readings_per_s": round(expected / seconds),
        # The writer's own commit time of the last batch: the moment the rows became queryable, without
        # the benchmark's polling delay (at most SAMPLE_SECONDS plus a count(*)).
        "e2e_seconds_at_last_commit": round(marks["writer"], 3),
        "stages_done_s": {
            "poller_published": round(marks.get("poller", float("nan")), 3),
            "normalizer_done": round(marks["normalizer"], 3),
            "writer_done": round(marks["writer"], 3),
            "queryable": round(seconds, 3),
        },
        "cpu": cpu_use,
        "poller": {
            "records_published": metric_value(poller_text, "meterflow_poller_published_records_total"),
            "messages_published": metric_value(poller_text, "meterflow_poller_published_messages_total"),
            "bytes_published": metric_value(poller_text, "meterflow_poller_published_bytes_total"),
        },
        "normalizer": {
            "readings": pipeline.sum_metric("normalizer", "meterflow_normalizer_readings_total"),
            "reading_batches": pipeline.sum_metric("normalizer", "meterflow_normalizer_reading_batches_total"),
            "dlq_records": pipeline.sum_metric("normalizer", "meterflow_normalizer_dlq_records_total"),
        },
        "writer": {
            "rows": pipeline.sum_metric("writer", "meterflow_writer_rows_total"),
            "batches": pipeline.sum_metric("writer", "meterflow_writer_batch_rows_count"),
            "copy_seconds_total": round(pipeline.sum_metric("writer", "meterflow_writer_copy_duration_seconds_sum"), 2),
            "write_seconds_total": round(
                pipeline.sum_metric("writer", "meterflow_writer_write_duration_seconds_sum"), 2
            ),
            "dlq_rows": pipeline.sum_metric("writer", "meterflow_writer_dlq_rows_total"),
        },
    }


def done_so_far(pipeline: BenchPipeline) -> tuple[float, float]:
    return (
        pipeline.sum_metric("normalizer", "meterflow_normalizer_readings_total"),
        pipeline.sum_metric("writer", "meterflow_writer_rows_total"),
    )


def load_step(
    pipeline: BenchPipeline,
    poller: ServiceProcess,
    dsn: str,
    expected: int,
    polls_before: float,
    t0: float,
    t0_wall: float,
    marks: dict[str, float],
) -> bool:
    """One look at the stages; records when each finished in ``marks``; True once all is queryable."""
    now = time.perf_counter()
    pipeline.assert_running()
    if "poller" not in marks:
        text = poller.metrics()
        if metric_value(text, "meterflow_poller_poll_duration_seconds_count") > polls_before:
            # The poller's own clock of its completed poll: exact, unlike our sampling.
            marks["poller"] = metric_value(text, "meterflow_poller_last_success_timestamp_seconds") - t0_wall
    normalized, written = done_so_far(pipeline)
    if "normalizer" not in marks and normalized >= expected:
        marks["normalizer"] = now - t0
    if "writer" not in marks and written >= expected:
        last_write = pipeline.max_metric("writer", "meterflow_writer_last_success_timestamp_seconds")
        marks["writer"] = last_write - t0_wall
    if "writer" in marks and count_rows(dsn) >= expected:
        marks["queryable"] = time.perf_counter() - t0
        return True
    return False


def measure_freshness(
    servers: Servers,
    res: Resources,
    pipeline: BenchPipeline,
    poller: ServiceProcess,
    fleet: Fleet,
    dsn: str,
    tries: int,
) -> dict[str, Any]:
    """Put one new meter-day object, ask the running poller to poll, time until its readings are queryable."""
    client = servers.s3_client()
    times: list[float] = []
    step = max(1, len(fleet.houses) // tries)
    for attempt in range(tries):
        house = fleet.houses[(attempt * step) % len(fleet.houses)]
        day = fleet.start + timedelta(days=fleet.days + attempt)
        body = render(house, day, 1, fleet.seed)
        expected = readings_count(house, 1)
        key = f"fresh/{house.muid}/{day.isoformat()}.json"

        def put_and_poll(key: str = key, body: bytes = body) -> None:
            client.put_object(Bucket=res.bucket, Key=key, Body=body)
            HTTP.post(f"{poller.ops_url}/poll", timeout=5).raise_for_status()

        times.append(seconds_until_queryable(pipeline, dsn, house.muid, day, expected, put_and_poll))
        log(f"freshness try {attempt + 1}: {times[-1]:.3f} s")
    return freshness_figures(times)


def seconds_until_queryable(
    pipeline: Pipeline, dsn: str, muid: object, day: date, expected: int, put: Callable[[], None]
) -> float:
    """Seconds from ``put()`` (the object lands, and whatever else the run does then) until the meter-day
    has ``expected`` readings in the table; a dead stage fails the run at once, 60 s fail it too."""
    first = datetime(day.year, day.month, day.day, tzinfo=UTC)
    query = "SELECT count(*) FROM readings WHERE muid = %s AND ts >= %s AND ts < %s"
    params = (str(muid), first, first + timedelta(days=1))
    time.sleep(0.5)
    with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        conn.autocommit = True
        started = time.perf_counter()
        put()
        while True:
            cur.execute(query, params)
            row = cur.fetchone()
            if row is not None and row[0] >= expected:
                return time.perf_counter() - started
            if time.perf_counter() - started > 60:
                pipeline.assert_running()
                raise TimeoutError(f"the meter-day {day} of {muid} was not queryable within 60 s")
            time.sleep(0.01)


def freshness_figures(times: list[float]) -> dict[str, Any]:
    return {
        "tries": len(times),
        "seconds": [round(t, 3) for t in times],
        "freshness_p50_s": round(statistics.median(times), 3),
        "freshness_max_s": round(max(times), 3),
    }
