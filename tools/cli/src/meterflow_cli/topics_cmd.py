"""`meterflow topics create`: create every topic declared in meterflow_contracts (idempotent), with the
replication and retention of the shared ``KAFKA_TOPIC_*`` variables (production's defaults: RF 3, min
ISR 2; infra/local.env sets 1 and 1 for the one local broker) or the flags."""

from __future__ import annotations

import argparse
import asyncio
import os

import structlog
from meterflow_contracts import ALL_TOPICS
from meterflow_contracts.admin import TopicCreationError, create_topics
from meterflow_kit.settings import shared_durability, shared_kafka_settings

log = structlog.get_logger("meterflow.cli")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("topics", help="Kafka topics of the pipeline")
    sub = parser.add_subparsers(dest="topics_command", required=True)
    create = sub.add_parser("create", help="create every declared topic that does not exist yet")
    create.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    create.add_argument("--suffix", default="", help="append this to every topic name (test isolation)")
    create.add_argument(
        "--replication-factor", type=int, help="replicas per partition (default KAFKA_TOPIC_REPLICATION_FACTOR or 3)"
    )
    create.add_argument(
        "--min-insync-replicas", type=int, help="min.insync.replicas (default KAFKA_TOPIC_MIN_INSYNC_REPLICAS or 2)"
    )
    create.set_defaults(func=run_create)


def run_create(args: argparse.Namespace) -> int:
    flags = {"replication_factor": args.replication_factor, "min_insync_replicas": args.min_insync_replicas}
    durability = shared_durability().model_copy(update={k: v for k, v in flags.items() if v is not None})
    try:
        kafka = shared_kafka_settings(args.bootstrap)  # SASL/TLS from KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*, ...
        created = asyncio.run(
            create_topics(
                args.bootstrap,
                ALL_TOPICS,
                suffix=args.suffix,
                durability=durability,
                client_options=kafka.client_options(),
            )
        )
    except TopicCreationError as error:
        log.error(
            "the broker refused to create topics",
            refused=dict(error.refused),
            hint="a cluster of fewer brokers than the replication factor needs KAFKA_TOPIC_REPLICATION_FACTOR "
            "and KAFKA_TOPIC_MIN_INSYNC_REPLICAS (or the flags) set to what it can give, e.g. 1 and 1",
        )
        return 1
    log.info(
        "topics ready",
        created=created,
        declared=[t.name + args.suffix for t in ALL_TOPICS],
        replication_factor=durability.replication_factor,
        min_insync_replicas=durability.min_insync_replicas,
    )
    return 0
