"""The whole pipeline against a Kafka broker that requires SASL/SCRAM-SHA-512 (a broker of this test's own):
the poller, the normalizer (Faust), the writer and the topic admin all log in with the shared KAFKA_SASL_*
settings, the password read from a file; a client with a wrong password is refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from meterflow_cli.demo import households, readings_count
from meterflow_cli.demo_cmd import render
from meterflow_contracts import ALL_TOPICS, TopicDurability
from meterflow_contracts.admin import create_topics
from meterflow_harness.api_keys import admin_key, auth_headers
from meterflow_harness.pipeline import Pipeline, Topics
from meterflow_harness.servers import SaslBroker, Servers, kafka_sasl_server
from meterflow_kit.settings import KafkaSettings
from readings_io import count_rows

pytestmark = pytest.mark.e2e
START = date(2023, 3, 20)


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[SaslBroker]:
    with kafka_sasl_server() as broker:
        yield broker


def settings_of(broker: SaslBroker, password: str | None = None) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=broker.bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username=broker.username,
        sasl_password=password or broker.password_file.read_text(),  # type: ignore[arg-type]
    )


async def test_a_wrong_password_is_refused(sasl_broker: SaslBroker) -> None:
    wrong = settings_of(sasl_broker, "not-the-password")
    # aiokafka logs the SaslAuthenticationFailed and reports that no broker would let it in.
    with pytest.raises(KafkaConnectionError, match=r"Unable to bootstrap"):
        await create_topics(
            wrong.bootstrap_servers, ALL_TOPICS, suffix=".refused", client_options=wrong.client_options()
        )


async def test_the_pipeline_runs_over_sasl_scram(
    sasl_broker: SaslBroker, servers: Servers, database: str, bucket: str, log_dir: Path, s3: Any
) -> None:
    kafka = settings_of(sasl_broker)
    topics = Topics.with_suffix(".sasl")
    await create_topics(
        kafka.bootstrap_servers,
        ALL_TOPICS,
        suffix=topics.suffix,
        durability=TopicDurability.single_broker(),
        client_options=kafka.client_options(),
    )
    on_sasl = Servers(sasl_broker.bootstrap, servers.pg_admin_dsn, servers.s3_endpoint)
    pipeline = Pipeline(on_sasl, topics, database, bucket, log_dir)
    env = sasl_broker.client_env()
    try:
        pipeline.start(pipeline.normalizer(**env))
        pipeline.start(pipeline.writer(WRITER_BATCH_MAX_S="0.2", **env))
        pipeline.start(pipeline.api())
        for service in pipeline.services.values():
            service.wait_healthy()
        fleet = households(3, seed=3)
        for house in fleet:
            s3.put_object(Bucket=bucket, Key=f"demo/{house.muid}.json", Body=render(house, START, 1, 3))
        expected = sum(readings_count(h, 1) for h in fleet)
        pipeline.poll_once(**env)
        deadline = time.monotonic() + 120
        while await count_rows(database) < expected:
            pipeline.assert_running()
            assert time.monotonic() < deadline, f"{await count_rows(database)} of {expected} readings arrived"
            await asyncio.sleep(0.5)
        headers = auth_headers(await admin_key(database))
        async with httpx.AsyncClient(base_url=pipeline.api_url, timeout=30, headers=headers) as client:
            assert len((await client.get("/v1/meters")).json()["meters"]) == len(fleet)
    finally:
        unclean = pipeline.stop()
    assert not unclean, unclean
