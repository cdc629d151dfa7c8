"""`meterflow topics create`: create every topic declared in meterflow_contracts (idempotent)."""

from __future__ import annotations

import argparse
import asyncio
import os

import structlog
from meterflow_contracts import ALL_TOPICS
from meterflow_contracts.admin import create_topics

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
