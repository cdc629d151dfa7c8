"""`meterflow topics create`: create every topic declared in meterflow_contracts (idempotent)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from meterflow_contracts import ALL_TOPICS, TopicSpec

log = structlog.get_logger("meterflow.cli")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topics", help="Kafka topics of the pipeline")
    sub = parser.add_subparsers(dest="topics_command", required=True)
    create = sub.add_parser("create", help="create every declared topic that does not exist yet")
    create.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    create.add_argument("--suffix", default="", help="append this to every topic name (test isolation)")
    create.set_defaults(func=run_create)


def run_create(args: argparse.Namespace) -> int:
    created = asyncio.run(create_topics(args.bootstrap, ALL_TOPICS, suffix=args.suffix))
    log.info("topics ready", created=created, declared=[t.name + args.suffix for t in ALL_TOPICS])
    return 0


async def create_topics(bootstrap: str, specs: tuple[TopicSpec, ...], suffix: str = "") -> list[str]:
    """Create the topics that are missing; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=s.name + suffix, num_partitions=s.partitions, replication_factor=1, topic_configs=s.config())
            for s in specs
            if s.name + suffix not in existing
        ]
        if missing:
            # Another process may create them first: that is the state we want.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()
