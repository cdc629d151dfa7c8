"""Fixtures of the poller's integration tests: the real ``meterflow-poller`` console script, started on
this test's bucket and topics, with short timeouts so failover and retries happen within a test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from meterflow_harness.paths import BIN, REPO
from meterflow_harness.pipeline import Topics
from meterflow_harness.ports import free_port
from meterflow_harness.processes import ServiceProcess, service_env
from meterflow_harness.servers import LOCAL_CREDENTIALS, Servers
from meterflow_harness.waiting import wait_until


@dataclass
class Pollers:
    servers: Servers
    topics: Topics
    bucket: str
    log_dir: Path
    started: list[ServiceProcess] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.servers.kafka,
            "KAFKA_TOPIC_REPLICATION_FACTOR": "1",  # the test broker is one node
            "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "1",
            "S3_ENDPOINT_URL": self.servers.s3_endpoint,
            **LOCAL_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "LOG_LEVEL": "INFO",
            "POLLER_BUCKET": self.bucket,
            "POLLER_RAW_TOPIC": self.topics.raw,
            "POLLER_DLQ_TOPIC": self.topics.dlq,
            "POLLER_CHECKPOINT_TOPIC": self.topics.checkpoints,
            "POLLER_KAFKA__SESSION_TIMEOUT_S": "6",
            "POLLER_INTERVAL_S": "3600",
            "POLLER_JITTER_S": "0",
            "POLLER_RETRY_MAX_S": "1",
            **overrides,
        }

    def start(self, *args: str, name: str = "poller", **overrides: str) -> ServiceProcess:
        port = free_port()
        process = ServiceProcess(
            name,
            [str(BIN / "meterflow-poller"), *args],
            service_env(self.env(POLLER_OPS_PORT=str(port), **overrides)),
            self.log_dir / f"{name}-{len(self.started)}.log",
            ops_url=f"http://127.0.0.1:{port}",
        )
        self.started.append(process)
        return process.start()

    def once(self, timeout: float = 120, expect: int = 0, **overrides: str) -> ServiceProcess:
        """Run ``meterflow-poller --once`` to its end and check its exit code."""
        process = self.start("--once", **overrides)
        code = process.wait_exit(timeout)
        assert code == expect, f"poller --once exited with {code}, expected {expect}:\n{process.tail()}"
        return process


@pytest.fixture
def pollers(servers: Servers, topics: Topics, bucket: str, tmp_path: Path) -> Iterator[Pollers]:
    runner = Pollers(servers, topics, bucket, tmp_path / "logs")
    yield runner
    for process in runner.started:
        process.stop(timeout=15)


class MotoServer:
    """A moto S3 server of this test's own, so the test can take S3 away and bring it back."""

    def __init__(self, log_path: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                start_new_session=True,
                env={**os.environ, **self.env},
            )

        def up() -> bool:
            try:
                return httpx.get(f"{self.url}/moto-api/", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        wait_until(up, 30, "moto server")
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def client(self, service: str = "s3", credentials: Mapping[str, str] = LOCAL_CREDENTIALS) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        )


@pytest.fixture
def private_s3(tmp_path: Path) -> Iterator[MotoServer]:
    """A moto S3 server of this test's own (in memory: killing it frees whatever the test put there)."""
    server = MotoServer(tmp_path / "moto.log").start()
    yield server
    server.kill()
