"""Fixtures: real Kafka, PostgreSQL and S3 servers, and per-test topics, databases and buckets.

Endpoints come from the environment (MF_KAFKA_BOOTSTRAP, MF_PG_ADMIN_DSN, MF_S3_ENDPOINT). Where one
is not given, the session starts the native server with the project's own scripts (and stops what
it started). With MF_USE_DOCKER=1 and a Docker engine, testcontainers starts the official images
instead; this machine has no Docker engine, so that path is not exercised here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import boto3
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from meterflow_contracts import ALL_TOPICS, CHECKPOINTS, DLQ, RAW, READINGS
from meterflow_contracts.admin import create_topics
from meterflow_schema import migrate
from support import LOCAL_CREDENTIALS, REPO, Pipeline, Servers, Topics, unique


def _run_script(*args: str) -> None:
    subprocess.run(["bash", *args], cwd=REPO, check=True)


def _status(script: str) -> bool:
    # A status check can time out on a loaded machine; a server wrongly taken as down would be
    # stopped at the end of this session although another session started it.
    return any(
        subprocess.run(["bash", script, "status"], cwd=REPO, capture_output=True).returncode == 0 for _ in range(3)
    )


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    if os.environ.get("MF_USE_DOCKER") == "1":
        yield from _docker_servers()
        return
    started: list[str] = []
    native = {
        "MF_KAFKA_BOOTSTRAP": "infra/kafka/kafka.sh",
        "MF_PG_ADMIN_DSN": "infra/timescale/pg.sh",
        "MF_S3_ENDPOINT": "infra/s3/s3.sh",
    }
    for variable, script in native.items():
        if variable not in os.environ and not _status(script):
            _run_script(script, "start")
            started.append(script)
    try:
        yield Servers(
            kafka=os.environ.get("MF_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
            pg_admin_dsn=os.environ.get("MF_PG_ADMIN_DSN", "postgresql://meterflow:meterflow@127.0.0.1:5432/postgres"),
            s3_endpoint=os.environ.get("MF_S3_ENDPOINT", "http://127.0.0.1:9000"),
        )
    finally:
        for script in reversed(started):
            _run_script(script, "stop")


def _docker_servers() -> Iterator[Servers]:  # pragma: no cover - needs a Docker engine
    from testcontainers.kafka import KafkaContainer
    from testcontainers.minio import MinioContainer
    from testcontainers.postgres import PostgresContainer

    with (
        KafkaContainer("apache/kafka:3.9.1").with_kraft() as kafka,
        PostgresContainer(
            "timescale/timescaledb:2.23.0-pg15", username="meterflow", password="meterflow", dbname="postgres"
        ) as pg,
        MinioContainer(access_key=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"], secret_key="meterflow-test") as minio,
    ):
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        minio_port = minio.get_exposed_port(9000)
        yield Servers(
            kafka=kafka.get_bootstrap_server(),
            pg_admin_dsn=f"postgresql://meterflow:meterflow@{host}:{port}/postgres",
            s3_endpoint=f"http://{minio.get_container_host_ip()}:{minio_port}",
        )


@pytest.fixture(autouse=True, scope="session")
def _aws_credentials() -> None:
    # moto accepts any key pair; botocore only needs one to sign requests.
    for key, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture
async def topics(servers: Servers) -> AsyncIterator[Topics]:
    """Every pipeline topic, with a suffix of this test's own."""
    suffix = unique(".t")
    await create_topics(servers.kafka, ALL_TOPICS, suffix=suffix)
    yield Topics(suffix, RAW.name + suffix, READINGS.name + suffix, DLQ.name + suffix, CHECKPOINTS.name + suffix)
    admin = AIOKafkaAdminClient(bootstrap_servers=servers.kafka)
    await admin.start()
    try:
        await admin.delete_topics([t.name + suffix for t in ALL_TOPICS])
    finally:
        await admin.close()


@pytest.fixture
async def database(servers: Servers) -> AsyncIterator[str]:
    """A migrated database of this test's own; yields its DSN."""
    name = unique("mf_test_")
    admin = await asyncpg.connect(servers.pg_admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = servers.pg_dsn(name)
    await migrate(dsn)
    yield dsn
    admin = await asyncpg.connect(servers.pg_admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def s3(servers: Servers) -> Any:
    return boto3.client("s3", endpoint_url=servers.s3_endpoint)


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """An S3 bucket of this test's own, emptied and removed afterwards."""
    name = unique("mf-test-")
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    path = tmp_path / "logs"
    path.mkdir()
    return path


@pytest.fixture
def pipeline(servers: Servers, topics: Topics, database: str, bucket: str, log_dir: Path) -> Iterator[Pipeline]:
    """The downstream stages running; the test drives the poller itself."""
    p = Pipeline(servers, topics, database, bucket, log_dir, {})
    p.services["normalizer"] = p.start_normalizer()
    p.services["writer"] = p.start_writer()
    p.services["api"] = p.start_api()
    try:
        for service in p.services.values():
            service.wait_healthy()
        yield p
    finally:
        for service in p.services.values():
            service.stop()
