"""Test support: unique names, free ports, and real service processes started like production."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SHARED_DATA = Path(os.environ.get("MF_SHARED_DATA", REPO.parent / "shared" / "data" / "exnaton-2023-02"))
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "meterflow-test", "AWS_SECRET_ACCESS_KEY": "meterflow-test"}
REAL_FILES = {
    "95ce3367-cbce-4a4d-bbe3-da082831d7bd": "0100011D00FF",
    "1db7649e-9342-4e04-97c7-f0ebb88ed1f8": "0100021D00FF",
}


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
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class ServiceProcess:
    """One Meterflow service run as its console script, with its own environment and log file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ops_url: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
        )
        log.close()
        return self

    def wait_healthy(self, timeout: float = 60) -> ServiceProcess:
        assert self.ops_url is not None

        def healthy() -> bool:
            self.assert_running()
            try:
                return httpx.get(f"{self.ops_url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(healthy, timeout, f"{self.name} health")
        return self

    def assert_running(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"{self.name} exited with {code}:\n{self.tail()}")

    def metrics(self) -> str:
        assert self.ops_url is not None
        return httpx.get(f"{self.ops_url}/metrics", timeout=5).text

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout: float = 30) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def wait_exit(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)


def service_env(overrides: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLLER_", "NORMALIZER_", "WRITER_", "API_"))}
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def series_source_counts() -> dict[str, float]:
    """meterflow_api_series_source_total by source, from this process's registry (APIs built in-process)."""
    from prometheus_client import REGISTRY

    return {
        source: REGISTRY.get_sample_value("meterflow_api_series_source_total", {"source": source}) or 0.0
        for source in ("hourly_rollup", "raw")
    }


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


@dataclass(frozen=True)
class Servers:
    kafka: str
    pg_admin_dsn: str
    s3_endpoint: str

    def pg_dsn(self, database: str) -> str:
        base, _, _ = self.pg_admin_dsn.rpartition("/")
        return f"{base}/{database}"


@dataclass(frozen=True)
class Topics:
    suffix: str
    raw: str
    readings: str
    dlq: str
    checkpoints: str


@dataclass
class Pipeline:
    """Normalizer, writer and API running as real processes on this test's topics, database, bucket."""

    servers: Servers
    topics: Topics
    dsn: str
    bucket: str
    log_dir: Path
    services: dict[str, ServiceProcess]

    def common_env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.servers.kafka,
            "DATABASE_URL": self.dsn,
            "S3_ENDPOINT_URL": self.servers.s3_endpoint,
            **LOCAL_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "LOG_LEVEL": "INFO",
        }

    def service(self, name: str, port_variable: str, settings: Mapping[str, str], *args: str) -> ServiceProcess:
        """A service (not started) on a free ops port, with the pipeline's endpoints and ``settings``."""
        port = free_port()
        overrides = {**self.common_env(), port_variable: str(port), **settings}
        return ServiceProcess(
            name,
            [str(BIN / f"meterflow-{name}"), *args],
            service_env(overrides),
            self.log_dir / f"{name}.log",
            ops_url=f"http://127.0.0.1:{port}",
        )

    def poller(self, *args: str, **env: str) -> ServiceProcess:
        settings = {
            "POLLER_BUCKET": self.bucket,
            "POLLER_RAW_TOPIC": self.topics.raw,
            "POLLER_DLQ_TOPIC": self.topics.dlq,
            "POLLER_CHECKPOINT_TOPIC": self.topics.checkpoints,
            **env,
        }
        return self.service("poller", "POLLER_OPS_PORT", settings, *args)

    def poll_once(self, timeout: float = 120, **env: str) -> None:
        poller = self.poller("--once", **env).start()
        code = poller.wait_exit(timeout)
        assert code == 0, f"poller --once exited with {code}:\n{poller.tail()}"

    @property
    def api_url(self) -> str:
        api = self.services["api"]
        assert api.ops_url is not None
        return api.ops_url

    def assert_running(self) -> None:
        for service in self.services.values():
            service.assert_running()

    def start_writer(self, **env: str) -> ServiceProcess:
        settings = {
            "WRITER_GROUP_ID": f"writer{self.topics.suffix}",
            "WRITER_READINGS_TOPIC": self.topics.readings,
            "WRITER_DLQ_TOPIC": self.topics.dlq,
            "WRITER_BATCH_MAX_S": "0.2",
            **env,
        }
        return self.service("writer", "WRITER_OPS_PORT", settings).start()

    def start_normalizer(self, **env: str) -> ServiceProcess:
        settings = {
            "NORMALIZER_APP_ID": f"normalizer{self.topics.suffix}",
            "NORMALIZER_RAW_TOPIC": self.topics.raw,
            "NORMALIZER_READINGS_TOPIC": self.topics.readings,
            "NORMALIZER_DLQ_TOPIC": self.topics.dlq,
            "NORMALIZER_DATA_DIR": str(self.log_dir / "normalizer-data"),
            **env,
        }
        return self.service("normalizer", "NORMALIZER_OPS_PORT", settings).start()

    def start_api(self) -> ServiceProcess:
        return self.service("api", "API_PORT", {"API_DATABASE_URL": self.dsn}).start()


@contextmanager
def pglite_server(name: str) -> Iterator[str]:
    """A TimescaleDB (PGlite) server of the caller's own: own port and state folder, stopped afterwards.

    Never one a developer left running: PGlite has a single database, and each suite needs it fresh.
    """
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"TimescaleDB (PGlite) needs {' and '.join(missing)} (apt-get install nodejs npm)")
    port = str(free_port())
    state = REPO / ".local" / f"pglite-{name}-{os.getpid()}"
    env = {**os.environ, "PGLITE_PORT": port, "PGLITE_STATE_DIR": str(state)}
    script = str(REPO / "infra" / "timescale" / "pglite.sh")
    subprocess.run(["bash", script, "start"], env=env, check=True, timeout=600)
    try:
        yield f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(["bash", script, "stop"], env=env, check=False, timeout=60)
        shutil.rmtree(state, ignore_errors=True)


async def count_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        value: int = await conn.fetchval("SELECT count(*) FROM readings")
        return value
    finally:
        await conn.close()
