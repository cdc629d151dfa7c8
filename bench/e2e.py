"""End-to-end benchmark harness: the real services as processes on a run's own topics, database and bucket.

Used by ``bench/run.py`` (``make bench``); not meant to be run on its own. It provides:

- ``Servers``: Kafka, PostgreSQL and S3 endpoints, started with the project's scripts when not running
  (and stopped again by ``Servers.stop_started``);
- ``Resources``: a fresh topic suffix, a migrated database and a bucket of one run, removed afterwards;
- ``run_pipeline``: the whole pipeline loading an uploaded fleet, timed from the first poll to the moment
  the last reading is queryable, then the freshness of single new objects, with the peak RSS of every
  service process sampled all along.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import asyncpg
import boto3
import httpx
import psutil
import psycopg2
from aiokafka.admin import AIOKafkaAdminClient
from meterflow_cli.demo import Household, readings_count
from meterflow_cli.demo_cmd import render
from meterflow_contracts import ALL_TOPICS, CHECKPOINTS, DLQ, RAW, READINGS
from meterflow_contracts.admin import create_topics
from meterflow_schema import migrate

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "meterflow-bench", "AWS_SECRET_ACCESS_KEY": "meterflow-bench"}
SAMPLE_SECONDS = 0.2
SERVICE_PREFIXES = ("POLLER_", "NORMALIZER_", "WRITER_", "API_")
# One keep-alive client for every scrape: a new connection per sample would cost the services CPU too.
HTTP = httpx.Client()


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def metric_value(text: str, name: str, labels: str = "") -> float:
    """Sum of the samples of ``name`` (optionally only those whose label set contains ``labels``)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] == name and labels in series:
            total += float(value)
    return total


# -- servers ---------------------------------------------------------------------------------------------


@dataclass
class Servers:
    kafka: str
    pg_admin_dsn: str
    s3_endpoint: str
    started: list[str] = field(default_factory=list)

    SCRIPTS: ClassVar[dict[str, str]] = {
        "kafka": "infra/kafka/kafka.sh",
        "postgres": "infra/timescale/pg.sh",
        "s3": "infra/s3/s3.sh",
    }

    @classmethod
    def ensure(cls) -> Servers:
        """Endpoints from MF_KAFKA_BOOTSTRAP / MF_PG_ADMIN_DSN / MF_S3_ENDPOINT, else the local native
        servers, started here when they are not running (and remembered, to be stopped at the end)."""
        servers = cls(
            kafka=os.environ.get("MF_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            pg_admin_dsn=os.environ.get("MF_PG_ADMIN_DSN", "postgresql://meterflow:meterflow@127.0.0.1:5432/postgres"),
            s3_endpoint=os.environ.get("MF_S3_ENDPOINT", "http://127.0.0.1:9000"),
        )
        given = {"kafka": "MF_KAFKA_BOOTSTRAP", "postgres": "MF_PG_ADMIN_DSN", "s3": "MF_S3_ENDPOINT"}
        for name, script in cls.SCRIPTS.items():
            if given[name] in os.environ:
                continue
            if subprocess.run(["bash", script, "status"], cwd=REPO, capture_output=True).returncode != 0:
                log(f"{name} is not running: starting it ({script} start)")
                subprocess.run(["bash", script, "start"], cwd=REPO, check=True)
                servers.started.append(script)
        return servers

    def stop_started(self) -> None:
        for script in reversed(self.started):
            log(f"stopping what the benchmark started: {script} stop")
            subprocess.run(["bash", script, "stop"], cwd=REPO, check=False)
        self.started.clear()

    def pg_dsn(self, database: str) -> str:
        base, _, _ = self.pg_admin_dsn.rpartition("/")
        return f"{base}/{database}"

    def s3_client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def kafka_pid(self) -> int | None:
        """The local broker's pid (from infra/kafka/kafka.sh's pid file), if it runs here."""
        pid_file = REPO / ".local" / "kafka" / "kafka.pid"
        try:
            pid = int(pid_file.read_text().strip())
            if "kafka.Kafka" in " ".join(psutil.Process(pid).cmdline()):
                return pid
        except (OSError, ValueError, psutil.Error):
            pass
        return None


# -- per-run resources -----------------------------------------------------------------------------------


async def create_database(servers: Servers, name: str) -> str:
    admin = await asyncpg.connect(servers.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = servers.pg_dsn(name)
    await migrate(dsn)
    return dsn


async def drop_database(servers: Servers, name: str) -> None:
    admin = await asyncpg.connect(servers.pg_admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, suffix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([t.name + suffix for t in ALL_TOPICS])
    finally:
        await admin.close()


def delete_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


@dataclass
class Resources:
    """The topics (by suffix), database and bucket of one benchmark run; ``close`` removes them all."""

    servers: Servers
    suffix: str = field(default_factory=lambda: unique(".bench"))
    bucket: str = field(default_factory=lambda: unique("mf-bench-"))
    databases: list[str] = field(default_factory=list)
    topics_created: bool = False
    bucket_created: bool = False

    def topic(self, base: str) -> str:
        return base + self.suffix

    def create_topics(self) -> None:
        asyncio.run(create_topics(self.servers.kafka, ALL_TOPICS, suffix=self.suffix))
        self.topics_created = True

    def create_bucket(self) -> None:
        self.servers.s3_client().create_bucket(Bucket=self.bucket)
        self.bucket_created = True

    def database(self, label: str) -> str:
        """A fresh, migrated database; returns its DSN."""
        name = unique(f"mf_bench_{label}_")
        self.databases.append(name)
        return asyncio.run(create_database(self.servers, name))

    def drop(self, dsn: str) -> None:
        name = dsn.rpartition("/")[2]
        asyncio.run(drop_database(self.servers, name))
        with contextlib.suppress(ValueError):
            self.databases.remove(name)

    def close(self) -> None:
        for name in list(self.databases):
            try:
                asyncio.run(drop_database(self.servers, name))
            except Exception as error:
                log(f"could not drop database {name}: {error!r}")
        self.databases.clear()
        if self.topics_created:
            try:
                asyncio.run(delete_topics(self.servers.kafka, self.suffix))
            except Exception as error:
                log(f"could not delete the topics *{self.suffix}: {error!r}")
            self.topics_created = False
        if self.bucket_created:
            try:
                delete_bucket(self.servers.s3_client(), self.bucket)
            except Exception as error:
                log(f"could not delete bucket {self.bucket}: {error!r}")
            self.bucket_created = False


def upload(servers: Servers, bucket: str, objects: Mapping[str, bytes], threads: int = 8) -> float:
    """Put every object (key -> body); returns the seconds it took."""
    client = servers.s3_client()
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(client.put_object, Bucket=bucket, Key=k, Body=b) for k, b in objects.items()]:
            future.result()
    return time.perf_counter() - started


# -- service processes -----------------------------------------------------------------------------------


@dataclass
class Service:
    """One Meterflow service run as its console script (or under a profiler), with its own env and log."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ops_url: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def assert_running(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with {code}; log {self.log_path}:\n{self.tail()}")

    def get(self, path: str, timeout: float = 5) -> httpx.Response:
        return HTTP.get(f"{self.ops_url}{path}", timeout=timeout)

    def healthy(self) -> bool:
        self.assert_running()
        try:
            return self.get("/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        return self.get("/metrics").text

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout: float = 60) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
            return None


def service_env(overrides: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_PREFIXES)}
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass(frozen=True)
class PipelineConfig:
    normalizers: int = 1
    writers: int = 1
    profile: str | None = None  # "pyinstrument": run poller/normalizer/writer under it; "py-spy": attach it
    profile_dir: Path | None = None


class Pipeline:
    """Poller, normalizer(s), writer(s) and API of one run, as real processes."""

    def __init__(self, servers: Servers, res: Resources, dsn: str, log_dir: Path, config: PipelineConfig) -> None:
        self.servers = servers
        self.res = res
        self.dsn = dsn
        self.log_dir = log_dir
        self.config = config
        self.services: dict[str, Service] = {}

    def common_env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.servers.kafka,
            "DATABASE_URL": self.dsn,
            "S3_ENDPOINT_URL": self.servers.s3_endpoint,
            **CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "LOG_LEVEL": "INFO",
        }

    def argv(self, name: str, script: str, module: str) -> list[str]:
        if self.config.profile == "pyinstrument" and module and self.config.profile_dir is not None:
            out = self.config.profile_dir / f"{name}.pyisession"
            return [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(out), "-m", module]
        return [str(BIN / script)]

    def add(self, name: str, script: str, module: str, env: dict[str, str], port: int, *args: str) -> Service:
        service = Service(
            name,
            [*self.argv(name, script, module), *args],
            service_env({**self.common_env(), **env}),
            self.log_dir / f"{name}.log",
            ops_url=f"http://127.0.0.1:{port}",
        )
        self.services[name] = service
        return service.start()

    def start_normalizer(self, index: int) -> Service:
        port = free_port()
        env = {
            "NORMALIZER_APP_ID": f"normalizer{self.res.suffix}",
            "NORMALIZER_RAW_TOPIC": self.res.topic(RAW.name),
            "NORMALIZER_READINGS_TOPIC": self.res.topic(READINGS.name),
            "NORMALIZER_DLQ_TOPIC": self.res.topic(DLQ.name),
            "NORMALIZER_OPS_PORT": str(port),
            "NORMALIZER_DATA_DIR": str(self.log_dir / f"normalizer-data-{index}"),
        }
        return self.add(f"normalizer-{index}", "meterflow-normalizer", "meterflow_normalizer.main", env, port)

    def start_writer(self, index: int) -> Service:
        port = free_port()
        env = {
            "WRITER_GROUP_ID": f"writer{self.res.suffix}",
            "WRITER_READINGS_TOPIC": self.res.topic(READINGS.name),
            "WRITER_DLQ_TOPIC": self.res.topic(DLQ.name),
            "WRITER_OPS_PORT": str(port),
        }
        return self.add(f"writer-{index}", "meterflow-writer", "meterflow_writer.main", env, port)

    def start_api(self) -> Service:
        port = free_port()
        return self.add("api", "meterflow-api", "", {"API_DATABASE_URL": self.dsn, "API_PORT": str(port)}, port)

    def start_poller(self) -> Service:
        port = free_port()
        env = {
            "POLLER_BUCKET": self.res.bucket,
            "POLLER_RAW_TOPIC": self.res.topic(RAW.name),
            "POLLER_DLQ_TOPIC": self.res.topic(DLQ.name),
            "POLLER_CHECKPOINT_TOPIC": self.res.topic(CHECKPOINTS.name),
            "POLLER_OPS_PORT": str(port),
            # Schedule mode, but every poll of the benchmark is asked for through POST /poll.
            "POLLER_INTERVAL_S": "86400",
            "POLLER_JITTER_S": "0",
        }
        return self.add("poller", "meterflow-poller", "meterflow_poller.main", env, port)

    def of(self, kind: str) -> list[Service]:
        return [s for name, s in self.services.items() if name.split("-")[0] == kind]

    def assert_running(self) -> None:
        for service in self.services.values():
            service.assert_running()

    def sum_metric(self, kind: str, name: str) -> float:
        return sum(metric_value(s.metrics(), name) for s in self.of(kind))

    def max_metric(self, kind: str, name: str) -> float:
        return max(metric_value(s.metrics(), name) for s in self.of(kind))

    def stop(self) -> None:
        # Upstream first, so nothing is left half-way; each stops cleanly on SIGTERM.
        for kind in ("poller", "normalizer", "writer", "api"):
            for service in self.of(kind):
                code = service.stop()
                if code not in (0, None, -signal.SIGTERM):
                    log(f"{service.name} exited with {code} on SIGTERM; log {service.log_path}")


def assigned_partitions(service: Service) -> int:
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


def wait_assigned(services: Sequence[Service], partitions: int, timeout: float = 90) -> None:
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


# -- resource sampling -----------------------------------------------------------------------------------


class RssSampler:
    """Peak RSS (process plus children) of named processes, sampled every SAMPLE_SECONDS in a thread.

    The process objects are kept and their children looked up again only every CHILDREN_EVERY samples:
    finding children scans every process of the machine, which on two cores would steal CPU from the
    pipeline being measured.
    """

    CHILDREN_EVERY = 10

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.peak_bytes: dict[str, int] = {}
        self.samples = 0
        self._trees: dict[str, list[psutil.Process]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks_mb()

    def peaks_mb(self) -> dict[str, float]:
        return {name: round(value / 2**20, 1) for name, value in sorted(self.peak_bytes.items())}

    def _tree(self, name: str, pid: int) -> list[psutil.Process]:
        tree = self._trees.get(name)
        if not tree or tree[0].pid != pid or self.samples % self.CHILDREN_EVERY == 0:
            try:
                root = tree[0] if tree and tree[0].pid == pid else psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            self._trees[name] = tree
        return tree

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in list(self.pids.items()):
                rss = 0
                for process in self._tree(name, pid):
                    with contextlib.suppress(psutil.Error):
                        rss += process.memory_info().rss
                if rss > self.peak_bytes.get(name, 0):
                    self.peak_bytes[name] = rss
            self.samples += 1
            self._stop.wait(self.interval)


def kafka_heap(pid: int | None) -> dict[str, Any]:
    """The broker's configured heap (-Xmx/-Xms from its command line) and, via jstat, the heap now."""
    if pid is None:
        return {"pid": None, "note": "the broker does not run from infra/kafka/kafka.sh here: not measured"}
    cmdline = psutil.Process(pid).cmdline()
    info: dict[str, Any] = {
        "pid": pid,
        "xmx": next((a.removeprefix("-Xmx") for a in cmdline if a.startswith("-Xmx")), None),
        "xms": next((a.removeprefix("-Xms") for a in cmdline if a.startswith("-Xms")), None),
    }
    try:
        out = subprocess.run(["jstat", "-gc", str(pid)], capture_output=True, text=True, timeout=30).stdout
        header, values = out.strip().splitlines()[:2]
        gc = dict(zip(header.split(), (float(v) for v in values.split()), strict=False))
        used = sum(gc.get(k, 0.0) for k in ("S0U", "S1U", "EU", "OU"))
        capacity = sum(gc.get(k, 0.0) for k in ("S0C", "S1C", "EC", "OC"))
        info.update(heap_used_mb=round(used / 1024, 1), heap_committed_mb=round(capacity / 1024, 1))
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        info["jstat_error"] = repr(error)
    return info


def server_pids(servers: Servers) -> dict[str, int]:
    """Pids of the local Kafka broker, moto and PostgreSQL's postmaster, where they run here."""
    pids: dict[str, int] = {}
    if (kafka := servers.kafka_pid()) is not None:
        pids["kafka"] = kafka
    with contextlib.suppress(OSError, ValueError):
        pids["s3"] = int((REPO / ".local" / "s3" / "moto.pid").read_text().strip())
    for process in psutil.process_iter(["name", "ppid"]):
        with contextlib.suppress(psutil.Error):
            if process.info["name"] == "postgres" and psutil.Process(process.info["ppid"]).name() != "postgres":
                pids["postgres"] = process.pid
                break
    return pids


def tree_cpu_seconds(pid: int, tree: bool = True) -> float:
    """CPU seconds of a process, its reaped children (PostgreSQL's ended backends) and its live ones."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        if not tree:
            return float(times.user + times.system)
        total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return float(total)
    except psutil.Error:
        return 0.0


class CpuMeter:
    """CPU seconds each named process tree, and the whole machine, spent between start and stop."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.before: dict[str, float] = {}
        self.births: dict[str, float | None] = {}
        self.machine_before = psutil.cpu_times()
        self.wall_before = time.perf_counter()

    @staticmethod
    def seconds(name: str, pid: int) -> float:
        # The benchmark's own process only: the services (and profilers) it started are its children.
        return tree_cpu_seconds(pid, tree=name != "bench")

    @staticmethod
    def born(pid: int) -> float | None:
        try:
            return float(psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    def start(self) -> CpuMeter:
        self.births = {name: self.born(pid) for name, pid in self.pids.items()}
        self.before = {name: self.seconds(name, pid) for name, pid in self.pids.items()}
        self.machine_before = psutil.cpu_times()
        self.wall_before = time.perf_counter()
        return self

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall_before
        after = psutil.cpu_times()
        idle = (after.idle - self.machine_before.idle) + (after.iowait - self.machine_before.iowait)
        total = sum(after) - sum(self.machine_before)
        used: dict[str, float] = {}
        # A server restarted during the load (tests of colleagues do that on a shared machine): not counted.
        restarted = [name for name, pid in self.pids.items() if self.born(pid) != self.births[name]]
        for name, pid in self.pids.items():
            if name not in restarted:
                used[name] = round(self.seconds(name, pid) - self.before[name], 2)
        busy = total - idle
        return {
            "wall_seconds": round(wall, 2),
            "cpu_seconds": used,
            "restarted_during_load": restarted,
            "machine_busy_cpu_seconds": round(busy, 2),
            # Busy CPU not spent by the pipeline, its servers or the benchmark: other work on a shared machine.
            "other_cpu_seconds": round(busy - sum(used.values()), 2),
        }


# -- py-spy (attached to running services) ---------------------------------------------------------------


class PySpy:
    """``py-spy record`` attached to each profiled service for the duration of the load."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def attach(self, name: str, pid: int) -> None:
        out = self.out_dir / f"{name}.pyspy.txt"
        argv = ["uv", "run", "--frozen", "--with", "py-spy", "py-spy", "record", "--pid", str(pid)]
        argv += ["--format", "raw", "--output", str(out), "--rate", "100", "--threads", "--gil"]
        log_file = (self.out_dir / f"{name}.pyspy.log").open("wb")
        self.processes[name] = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
        log_file.close()

    def detach(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


# -- the measured run ------------------------------------------------------------------------------------


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
    pipeline = Pipeline(servers, res, dsn, log_dir, config)
    sampler = RssSampler()
    pyspy: PySpy | None = None
    kafka_pid = servers.kafka_pid()
    if kafka_pid is not None:
        sampler.watch("kafka", kafka_pid)
    try:
        log(f"starting {config.normalizers} normalizer(s), {config.writers} writer(s) and the API")
        normalizers = [pipeline.start_normalizer(i + 1) for i in range(config.normalizers)]
        writers = [pipeline.start_writer(i + 1) for i in range(config.writers)]
        api = pipeline.start_api()
        for service in pipeline.services.values():
            sampler.watch(service.name, service.pid)
        sampler.start()
        for service in pipeline.services.values():
            wait_until(service.healthy, 90, f"{service.name} health")
        wait_until(lambda: api.get("/readyz").status_code == 200, 60, "API readiness")
        wait_assigned(normalizers, RAW.partitions)
        wait_assigned(writers, READINGS.partitions)
        poller = pipeline.start_poller()
        sampler.watch("poller", poller.pid)
        wait_until(poller.healthy, 60, "poller health")
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
        cpu_pids.update(server_pids(servers))
        cpu_pids["bench"] = os.getpid()
        cpu = CpuMeter(cpu_pids)
        load = measure_load(pipeline, poller, fleet, dsn, cpu)
        if pyspy is not None:
            pyspy.detach()
            pyspy = None
        load["upload_seconds"] = round(upload_s, 2)
        load["kafka_heap"] = kafka_heap(kafka_pid)
        load["peak_rss_mb_load"] = sampler.peaks_mb()
        if freshness_tries > 0:
            load["freshness"] = measure_freshness(servers, res, pipeline, poller, fleet, dsn, freshness_tries)
    finally:
        if pyspy is not None:
            pyspy.detach()
        pipeline.stop()
        peaks = sampler.stop()
    load["peak_rss_mb"] = peaks
    load["rss_samples"] = sampler.samples
    load["logs"] = str(log_dir)
    res.drop(dsn)
    return load


def measure_load(pipeline: Pipeline, poller: Service, fleet: Fleet, dsn: str, cpu: CpuMeter) -> dict[str, Any]:
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


def done_so_far(pipeline: Pipeline) -> tuple[float, float]:
    return (
        pipeline.sum_metric("normalizer", "meterflow_normalizer_readings_total"),
        pipeline.sum_metric("writer", "meterflow_writer_rows_total"),
    )


def load_step(
    pipeline: Pipeline,
    poller: Service,
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
    servers: Servers, res: Resources, pipeline: Pipeline, poller: Service, fleet: Fleet, dsn: str, tries: int
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
        first = datetime(day.year, day.month, day.day, tzinfo=UTC)
        query = "SELECT count(*) FROM readings WHERE muid = %s AND ts >= %s AND ts < %s"
        params = (str(house.muid), first, first + timedelta(days=1))
        time.sleep(0.5)
        with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
            conn.autocommit = True
            started = time.perf_counter()
            client.put_object(Bucket=res.bucket, Key=f"fresh/{house.muid}/{day.isoformat()}.json", Body=body)
            HTTP.post(f"{poller.ops_url}/poll", timeout=5).raise_for_status()
            while True:
                cur.execute(query, params)
                row = cur.fetchone()
                if row is not None and row[0] >= expected:
                    break
                if time.perf_counter() - started > 60:
                    pipeline.assert_running()
                    raise TimeoutError(f"a new meter-day was not queryable within 60 s (try {attempt + 1})")
                time.sleep(0.01)
            times.append(time.perf_counter() - started)
        log(f"freshness try {attempt + 1}: {times[-1]:.3f} s")
    return {
        "tries": tries,
        "seconds": [round(t, 3) for t in times],
        "freshness_p50_s": round(statistics.median(times), 3),
        "freshness_max_s": round(max(times), 3),
    }
