"""A Meterflow service run as a real process (its console script, or any argv) with its own environment
and log file, and what tests and benchmarks ask of it: health, metrics, its log's tail, its peak memory."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from meterflow_harness.paths import REPO
from meterflow_harness.waiting import wait_until

# Settings of the services, read from the environment: a developer's own must not leak into a run.
SERVICE_PREFIXES = ("POLLER_", "NORMALIZER_", "WRITER_", "API_")


class ServiceExited(AssertionError):
    """A service process ended while it was expected to run (an AssertionError: in a test, a failure)."""


def service_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any service setting, plus ``overrides``; output unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SERVICE_PREFIXES)}
    env.update(overrides)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class ServiceProcess:
    """One service process in a session of its own (so a kill takes its children too), its output in a log.

    ``http`` is the client its ops endpoint is asked with: a benchmark passes one keep-alive client, since a
    connection per scrape would cost the measured services CPU; without it, each request is on its own.
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ops_url: str | None = None
    http: httpx.Client | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def get(self, path: str, timeout: float = 5) -> httpx.Response:
        """GET ``path`` of the ops endpoint."""
        assert self.ops_url is not None, f"{self.name} has no ops endpoint"
        url = f"{self.ops_url}{path}"
        return self.http.get(url, timeout=timeout) if self.http is not None else httpx.get(url, timeout=timeout)

    def healthy(self) -> bool:
        """True when /healthz answers 200; ServiceExited when the process is gone."""
        self.assert_running()
        try:
            return self.get("/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 60) -> ServiceProcess:
        wait_until(self.healthy, timeout, f"{self.name} health")
        return self

    def assert_running(self) -> None:
        assert self.process is not None, f"{self.name} was not started"
        code = self.process.poll()
        if code is not None:
            raise ServiceExited(f"{self.name} exited with {code}; log {self.log_path}:\n{self.tail()}")

    def metrics(self) -> str:
        return self.get("/metrics").text

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` s; the exit code (None if killed or never started)."""
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
        assert self.process is not None, f"{self.name} was not started"
        return self.process.wait(timeout)


def peak_rss(pid: int) -> int | None:
    """The process's peak RSS so far (the kernel's VmHWM, bytes), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None
