"""Fixtures: real Kafka, PostgreSQL and S3 servers, and per-test topics, databases and buckets.

Endpoints come from the environment (MF_KAFKA_BOOTSTRAP, MF_PG_ADMIN_DSN, MF_S3_ENDPOINT). Where one
is not given, the session starts the native server with the project's own scripts (and stops what
it started). With MF_USE_DOCKER=1 and a Docker engine, testcontainers starts the official images
instead; this machine has no Docker engine, so that path is not exercised here.

In CI (the environment variable CI is "true") a skipped test FAILS, with the skip's reason (what was missing:
node, the real data folder, ...): a run that skipped the TimescaleDB tests must not pass for one that ran
them. An xfail stays an xfail.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from meterflow_contracts import ALL_TOPICS, READINGS_V2, TopicDurability
from meterflow_contracts.admin import create_topics
from meterflow_harness.kafka import delete_topics
from meterflow_harness.names import unique
from meterflow_harness.pipeline import Pipeline, Topics
from meterflow_harness.postgres import create_database, drop_database
from meterflow_harness.servers import LOCAL_CREDENTIALS, Servers, start_missing_servers, stop_servers
from meterflow_schema import migrate

pytest_plugins = ["pytester"]  # tests/unit/test_ci_skips.py runs the CI rule below in a pytest of its own


def skips_fail() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def fail_the_skip(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Turn a skip report into a failure that names why the test was skipped."""
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped, and in CI (CI=true) a skip fails the run: {reason.removeprefix('Skipped: ')}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report: pytest.TestReport = yield
    # An xfail is reported as skipped with ``wasxfail``: expected, so it stays.
    if skips_fail() and report.skipped and not hasattr(report, "wasxfail"):
        fail_the_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, Any, Any]:
    report: pytest.CollectReport = yield
    if skips_fail() and report.skipped:  # a module-level pytest.skip or importorskip
        fail_the_skip(report)
    return report


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    if os.environ.get("MF_USE_DOCKER") == "1":
        yield from _docker_servers()
        return
    started = start_missing_servers()
    try:
        yield Servers.from_env()
    finally:
        stop_servers(started)


def _docker_servers() -> Iterator[Servers]:  # pragma: no cover - needs a Docker engine
    from testcontainers.kafka import KafkaContainer
    from testcontainers.minio import MinioContainer
    from testcontainers.postgres import PostgresContainer

    with (
        KafkaContainer("apache/kafka:3.9.1").with_kraft() as kafka,
        PostgresContainer(
            "timescale/timescaledb:2.23.0-pg15", username="meterflow", password="meterflow", dbname="postgres"
        ) as pg,
        MinioContainer(
            access_key=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"], secret_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
        ) as minio,
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
    await create_topics(servers.kafka, ALL_TOPICS, suffix=suffix, durability=TopicDurability.single_broker())
    yield Topics.with_suffix(suffix)
    await delete_topics(servers.kafka, [t.name + suffix for t in ALL_TOPICS])


@pytest.fixture
async def database(servers: Servers) -> AsyncIterator[str]:
    """A migrated database of this test's own; yields its DSN."""
    name = unique("mf_test_")
    dsn = await create_database(servers.pg_admin_dsn, name)
    await migrate(dsn)
    yield dsn
    await drop_database(servers.pg_admin_dsn, name)


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
    # The readings go through the columnar contract (meter.readings.v2), as in production.
    p = Pipeline(servers, replace(topics, readings=READINGS_V2.name + topics.suffix), database, bucket, log_dir)
    p.start(p.normalizer())
    p.start(p.writer(WRITER_BATCH_MAX_S="0.2"))
    p.start(p.api())
    try:
        for service in p.services.values():
            service.wait_healthy()
        yield p
    finally:
        p.stop()
