"""The scratch resources of one benchmark run: its topics (by suffix), migrated databases and bucket, all
removed by ``Resources.close``; and the upload of a fleet into the bucket."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from meterflow_contracts import ALL_TOPICS, RAW, READINGS, READINGS_V2, TopicDurability
from meterflow_contracts.admin import create_topics
from meterflow_harness.kafka import delete_topics
from meterflow_harness.names import unique
from meterflow_harness.pipeline import Topics
from meterflow_harness.postgres import create_database, drop_database
from meterflow_harness.servers import Servers
from meterflow_schema import migrate

from bench.progress import log


def delete_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    client.delete_bucket(Bucket=bucket)


async def migrated_database(admin_dsn: str, name: str) -> str:
    dsn = await create_database(admin_dsn, name)
    await migrate(dsn)
    return dsn


@dataclass
class Resources:
    """The topics (by suffix), databases and bucket of one benchmark run; ``close`` removes them all."""

    servers: Servers
    suffix: str = field(default_factory=lambda: unique(".bench"))
    bucket: str = field(default_factory=lambda: unique("mf-bench-"))
    databases: list[str] = field(default_factory=list)
    # The raw and readings topics' partitions when not the declared ones (bench/scale.py: 12).
    partitions: int | None = None
    topics_created: bool = False
    bucket_created: bool = False

    @property
    def topics(self) -> Topics:
        """The run's topics; the pipeline's readings go through meter.readings.v2 (the columnar contract)."""
        return replace(Topics.with_suffix(self.suffix), readings=READINGS_V2.name + self.suffix)

    @property
    def v1_readings(self) -> str:
        return READINGS.name + self.suffix

    def create_topics(self) -> None:
        specs = [
            replace(spec, partitions=self.partitions)
            if self.partitions and spec.name in (RAW.name, READINGS.name, READINGS_V2.name)
            else spec
            for spec in ALL_TOPICS
        ]
        asyncio.run(
            create_topics(self.servers.kafka, specs, suffix=self.suffix, durability=TopicDurability.single_broker())
        )
        self.topics_created = True

    def create_bucket(self) -> None:
        self.servers.s3_client().create_bucket(Bucket=self.bucket)
        self.bucket_created = True

    def database(self, label: str) -> str:
        """A fresh, migrated database; returns its DSN."""
        name = unique(f"mf_bench_{label}_")
        self.databases.append(name)
        return asyncio.run(migrated_database(self.servers.pg_admin_dsn, name))

    def drop(self, dsn: str) -> None:
        name = dsn.rpartition("/")[2]
        asyncio.run(drop_database(self.servers.pg_admin_dsn, name))
        with contextlib.suppress(ValueError):
            self.databases.remove(name)

    def close(self) -> None:
        for name in list(self.databases):
            try:
                asyncio.run(drop_database(self.servers.pg_admin_dsn, name))
            except Exception as error:
                log(f"could not drop database {name}: {error!r}")
        self.databases.clear()
        if self.topics_created:
            try:
                asyncio.run(delete_topics(self.servers.kafka, [t.name + self.suffix for t in ALL_TOPICS]))
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
