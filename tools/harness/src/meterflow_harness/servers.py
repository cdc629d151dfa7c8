"""The real servers a run talks to: their endpoints (from MF_KAFKA_BOOTSTRAP, MF_PG_ADMIN_DSN and
MF_S3_ENDPOINT, else the local defaults), the native ones started and stopped with the project's scripts
(infra/*), and a TimescaleDB (PGlite) server or a SASL/SCRAM Kafka broker of a caller's own."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3

from meterflow_harness.paths import REPO
from meterflow_harness.ports import free_port

# moto accepts any key pair; botocore only needs one to sign requests.
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "meterflow-test", "AWS_SECRET_ACCESS_KEY": "meterflow-test"}
DEFAULTS = {
    "MF_KAFKA_BOOTSTRAP": "127.0.0.1:9092",
    "MF_PG_ADMIN_DSN": "postgresql://meterflow:meterflow@127.0.0.1:5432/postgres",
    "MF_S3_ENDPOINT": "http://127.0.0.1:9000",
}
# The script that runs each server natively, by the variable that points elsewhere instead.
NATIVE_SCRIPTS = {
    "MF_KAFKA_BOOTSTRAP": "infra/kafka/kafka.sh",
    "MF_PG_ADMIN_DSN": "infra/timescale/pg.sh",
    "MF_S3_ENDPOINT": "infra/s3/s3.sh",
}


class ToolMissing(RuntimeError):
    """A server cannot be started here: a tool it needs is not installed."""


@dataclass(frozen=True)
class Servers:
    """Endpoints of Kafka, PostgreSQL (a role that may CREATE DATABASE) and S3."""

    kafka: str
    pg_admin_dsn: str
    s3_endpoint: str

    @classmethod
    def from_env(cls) -> Servers:
        def endpoint(variable: str) -> str:
            return os.environ.get(variable, DEFAULTS[variable])

        return cls(endpoint("MF_KAFKA_BOOTSTRAP"), endpoint("MF_PG_ADMIN_DSN"), endpoint("MF_S3_ENDPOINT"))

    def pg_dsn(self, database: str) -> str:
        """The admin DSN, pointing at ``database``."""
        base, _, _ = self.pg_admin_dsn.rpartition("/")
        return f"{base}/{database}"

    def s3_client(self, credentials: Mapping[str, str] = LOCAL_CREDENTIALS) -> Any:
        return self.aws_client("s3", credentials)

    def sqs_client(self, credentials: Mapping[str, str] = LOCAL_CREDENTIALS) -> Any:
        """SQS of the same moto server (it serves every AWS API it implements on one port)."""
        return self.aws_client("sqs", credentials)

    def aws_client(self, service: Literal["s3", "sqs"], credentials: Mapping[str, str] = LOCAL_CREDENTIALS) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
        )


def native_server_running(script: str) -> bool:
    # A status check can time out on a loaded machine; a server wrongly taken as down would be started
    # (and stopped at the end) although another session runs it.
    return any(
        subprocess.run(["bash", script, "status"], cwd=REPO, capture_output=True).returncode == 0 for _ in range(3)
    )


def start_missing_servers(announce: Callable[[str], None] = lambda _: None) -> list[str]:
    """Start each native server whose MF_* variable is not set and that does not run yet; returns the
    scripts it started, for ``stop_servers``."""
    started: list[str] = []
    for variable, script in NATIVE_SCRIPTS.items():
        if variable not in os.environ and not native_server_running(script):
            announce(f"starting {script} (not running, and {variable} is not set)")
            subprocess.run(["bash", script, "start"], cwd=REPO, check=True)
            started.append(script)
    return started


def stop_servers(scripts: list[str], announce: Callable[[str], None] = lambda _: None) -> None:
    """Stop what ``start_missing_servers`` started, last first."""
    for script in reversed(scripts):
        announce(f"stopping {script}")
        subprocess.run(["bash", script, "stop"], cwd=REPO, check=False)


@contextmanager
def pglite_server(name: str) -> Iterator[str]:
    """A TimescaleDB (PGlite) server of the caller's own: own port and state folder, stopped afterwards;
    yields its DSN. ToolMissing when node or npm is not installed.

    Never one a developer left running: PGlite has a single database, and each suite needs it fresh.
    """
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise ToolMissing(f"TimescaleDB (PGlite) needs {' and '.join(missing)} (apt-get install nodejs npm)")
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


@dataclass(frozen=True)
class SaslBroker:
    """A broker that authenticates with SCRAM-SHA-512: where it listens and its one user."""

    bootstrap: str
    username: str
    password_file: Path

    def client_env(self) -> dict[str, str]:
        """The shared variables that make every service and the CLI log in to it."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": self.username,
            "KAFKA_SASL_PASSWORD_FILE": str(self.password_file),
        }


@contextmanager
def kafka_sasl_server() -> Iterator[SaslBroker]:
    """A Kafka broker of the caller's own (infra/kafka/kafka.sh with its own state folder and free ports)
    whose clients must log in with SASL/SCRAM-SHA-512; stopped and deleted afterwards."""
    state = Path(tempfile.mkdtemp(prefix="meterflow-kafka-sasl-"))
    password_file = state / "scram-password"
    password_file.write_text(secrets.token_urlsafe(24))
    sasl_port = free_port()
    env = {
        **os.environ,
        "KAFKA_STATE_DIR": str(state),
        "KAFKA_PORT": str(free_port()),
        "KAFKA_CONTROLLER_PORT": str(free_port()),
        "KAFKA_SASL_PORT": str(sasl_port),
        "KAFKA_SCRAM_USER": "meterflow",
        "KAFKA_SCRAM_PASSWORD_FILE": str(password_file),
        "KAFKA_HEAP_OPTS": "-Xmx256m -Xms256m",
    }
    script = str(REPO / "infra" / "kafka" / "kafka.sh")
    subprocess.run(["bash", script, "start"], env=env, cwd=REPO, check=True, timeout=300)
    try:
        yield SaslBroker(f"127.0.0.1:{sasl_port}", "meterflow", password_file)
    finally:
        subprocess.run(["bash", script, "stop"], env=env, cwd=REPO, check=False, timeout=120)
        shutil.rmtree(state, ignore_errors=True)
