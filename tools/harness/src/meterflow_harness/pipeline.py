"""The pipeline of one test or benchmark run: its own topics (the declared ones with a suffix), and the
poller, normalizer, writer and API as real processes on those topics, its database and its bucket. The
writer and the API connect with their least-privilege logins (roles.py), not the owner's DSN."""

from __future__ import annotations

import signal
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from meterflow_contracts import CHECKPOINTS, DLQ, RAW, READINGS

from meterflow_harness.metrics import metric_value
from meterflow_harness.paths import BIN
from meterflow_harness.ports import free_port
from meterflow_harness.processes import ServiceProcess, service_env
from meterflow_harness.roles import API, WRITER, as_login
from meterflow_harness.servers import LOCAL_CREDENTIALS, Servers

# Upstream first: stopping in this order leaves nothing half-way.
STAGES = ("poller", "normalizer", "writer", "api")


@dataclass(frozen=True)
class Topics:
    """The pipeline's topic names with a suffix of one test or run."""

    suffix: str
    raw: str
    readings: str
    dlq: str
    checkpoints: str

    @classmethod
    def with_suffix(cls, suffix: str) -> Topics:
        return cls(suffix, *(spec.name + suffix for spec in (RAW, READINGS, DLQ, CHECKPOINTS)))


@dataclass
class Pipeline:
    """Services on this run's topics, database and bucket, each on a free ops port.

    ``poller``/``normalizer``/``writer``/``api`` build a service (not started); ``start`` starts one and
    keeps it in ``services`` by its name (``normalizer-2``: the kind before the dash), which ``of``,
    ``sum_metric``, ``assert_running`` and ``stop`` go through. A subclass may run the services otherwise
    by overriding ``command`` (the benchmark's profiler does).
    """

    servers: Servers
    topics: Topics
    dsn: str
    bucket: str
    log_dir: Path
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    http: httpx.Client | None = None

    def common_env(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.servers.kafka,
            # The test and benchmark broker is one node: topics have one replica (production: 3, min ISR 2).
            "KAFKA_TOPIC_REPLICATION_FACTOR": "1",
            "KAFKA_TOPIC_MIN_INSYNC_REPLICAS": "1",
            "DATABASE_URL": self.dsn,
            "S3_ENDPOINT_URL": self.servers.s3_endpoint,
            **LOCAL_CREDENTIALS,
            "AWS_DEFAULT_REGION": "us-east-1",
            "LOG_LEVEL": "INFO",
        }

    def command(self, name: str, kind: str) -> list[str]:
        """How service ``name`` of ``kind`` (poller, normalizer, writer, api) is run: its console script."""
        return [str(BIN / f"meterflow-{kind}")]

    def service(self, name: str, port_variable: str, settings: Mapping[str, str], *args: str) -> ServiceProcess:
        """Service ``name`` (not started) on a free ops port, with the pipeline's endpoints and ``settings``."""
        port = free_port()
        overrides = {**self.common_env(), port_variable: str(port), **settings}
        return ServiceProcess(
            name,
            [*self.command(name, name.split("-")[0]), *args],
            service_env(overrides),
            self.log_dir / f"{name}.log",
            ops_url=f"http://127.0.0.1:{port}",
            http=self.http,
        )

    def poller(self, *args: str, name: str = "poller", **env: str) -> ServiceProcess:
        settings = {
            "POLLER_BUCKET": self.bucket,
            "POLLER_RAW_TOPIC": self.topics.raw,
            "POLLER_DLQ_TOPIC": self.topics.dlq,
            "POLLER_CHECKPOINT_TOPIC": self.topics.checkpoints,
            **env,
        }
        return self.service(name, "POLLER_OPS_PORT", settings, *args)

    def normalizer(self, name: str = "normalizer", **env: str) -> ServiceProcess:
        settings = {
            "NORMALIZER_APP_ID": f"normalizer{self.topics.suffix}",
            "NORMALIZER_RAW_TOPIC": self.topics.raw,
            "NORMALIZER_READINGS_TOPIC": self.topics.readings,
            "NORMALIZER_DLQ_TOPIC": self.topics.dlq,
            "NORMALIZER_DATA_DIR": str(self.log_dir / f"{name}-data"),
            **env,
        }
        return self.service(name, "NORMALIZER_OPS_PORT", settings)

    def writer(self, name: str = "writer", **env: str) -> ServiceProcess:
        settings = {
            # The least-privilege login (migration 0009): the run proves the writer needs no more.
            "WRITER_DATABASE_URL": as_login(self.dsn, WRITER),
            "WRITER_GROUP_ID": f"writer{self.topics.suffix}",
            "WRITER_READINGS_TOPIC": self.topics.readings,
            "WRITER_DLQ_TOPIC": self.topics.dlq,
            **env,
        }
        return self.service(name, "WRITER_OPS_PORT", settings)

    def api(self, name: str = "api", **env: str) -> ServiceProcess:
        return self.service(name, "API_PORT", {"API_DATABASE_URL": as_login(self.dsn, API), **env})

    def start(self, service: ServiceProcess) -> ServiceProcess:
        self.services[service.name] = service
        return service.start()

    def poll_once(self, timeout: float = 120, **env: str) -> None:
        """Run ``meterflow-poller --once`` to its end; it must exit 0."""
        poller = self.poller("--once", **env).start()
        code = poller.wait_exit(timeout)
        assert code == 0, f"poller --once exited with {code}:\n{poller.tail()}"

    @property
    def api_url(self) -> str:
        api = self.services["api"]
        assert api.ops_url is not None
        return api.ops_url

    def of(self, kind: str) -> list[ServiceProcess]:
        return [s for name, s in self.services.items() if name.split("-")[0] == kind]

    def sum_metric(self, kind: str, name: str) -> float:
        return sum(metric_value(s.metrics(), name) for s in self.of(kind))

    def max_metric(self, kind: str, name: str) -> float:
        return max(metric_value(s.metrics(), name) for s in self.of(kind))

    def assert_running(self) -> None:
        for service in self.services.values():
            service.assert_running()

    def stop(self, timeout: float = 30) -> list[str]:
        """Stop every started service, upstream first; returns those that did not exit cleanly on SIGTERM."""
        unclean: list[str] = []
        for kind in STAGES:
            for service in self.of(kind):
                code = service.stop(timeout)
                if code not in (0, None, -signal.SIGTERM):
                    unclean.append(f"{service.name} exited with {code} on SIGTERM; log {service.log_path}")
        return unclean
