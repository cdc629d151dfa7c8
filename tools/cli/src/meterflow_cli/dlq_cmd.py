"""`meterflow dlq list|show|replay|purge`: the dead-letter topic for the on-call (docs/runbook.md).

- ``list`` prints one line per dead letter (position, time, stage, reason, source object and records,
  trace id, message), filtered by ``--reason``, ``--stage`` and ``--since``;
- ``show OFFSET`` prints one dead letter whole: the evidence (the offending record) and its source position;
- ``replay`` makes the poller read the source objects of the selected dead letters again, after a fix: it
  tombstones their checkpoints (the poller loads the checkpoints at every poll, so the next poll re-publishes
  each object whole). Idempotent by design: the writer's version-ordered upsert turns the records that went
  through the first time into no-ops. One audit line per object goes to ``audit_log`` (action
  ``dlq.replay``) when ``DATABASE_URL`` is set; ``--poll`` asks the poller to poll at once;
- ``purge --before TIME`` deletes the dead letters older than TIME (Kafka delete-records), for those kept past
  their retention once handled.

Dead letters without a source position (a message that did not decode) cannot be replayed from S3; the
output says so.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import sys
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from meterflow_contracts import CHECKPOINTS, DLQ, DeadLetter, SourcePosition
from meterflow_contracts.topics import checkpoint_key
from meterflow_kit.consumer import partitions_of
from meterflow_kit.settings import shared_kafka_settings
from meterflow_kit.tracing import trace_id_in, trace_id_of

READ_TIMEOUT_MS = 1000


@dataclass(frozen=True)
class Letter:
    """A dead letter and where it is in the topic."""

    partition: int
    offset: int
    dead: DeadLetter | None  # None: the record does not decode as a dead letter
    raw: bytes
    trace_id: str | None  # from the traceparent header, else from the source position

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("dlq", help="dead letters: list, show, replay after a fix, purge")
    sub = parser.add_subparsers(dest="dlq_command", required=True)
    listing = sub.add_parser("list", help="one line per dead letter")
    _common(listing)
    _filters(listing)
    listing.add_argument("--limit", type=int, default=100, help="print at most this many (newest last)")
    listing.set_defaults(func=run_list)
    show = sub.add_parser("show", help="one dead letter whole, with its evidence and source position")
    _common(show)
    show.add_argument("position", help="PARTITION:OFFSET as list prints it (or OFFSET: partition 0)")
    show.set_defaults(func=run_show)
    replay = sub.add_parser("replay", help="make the poller read the selected dead letters' objects again")
    _common(replay)
    _filters(replay)
    replay.add_argument("--position", action="append", default=[], help="PARTITION:OFFSET (repeatable)")
    replay.add_argument("--checkpoint-topic", default=os.environ.get("POLLER_CHECKPOINT_TOPIC", CHECKPOINTS.name))
    replay.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="for the audit lines")
    replay.add_argument("--actor", default=getpass.getuser(), help="who replays (audit_log.actor)")
    replay.add_argument("--poll", metavar="POLLER_URL", help="then POST /poll to this poller ops URL")
    replay.add_argument("--dry-run", action="store_true", help="print what would be replayed, change nothing")
    replay.set_defaults(func=run_replay)
    purge = sub.add_parser("purge", help="delete the dead letters older than --before (Kafka delete-records)")
    _common(purge)
    purge.add_argument("--before", required=True, type=_instant, help="ISO 8601 time, e.g. 2026-01-31T00:00Z")
    purge.set_defaults(func=run_purge)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--topic", default=os.environ.get("POLLER_DLQ_TOPIC", DLQ.name), help="the DLQ topic")


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", action="append", default=[], help="only this reason (repeatable)")
    parser.add_argument("--stage", choices=["poller", "normalizer", "writer"], help="only this stage")
    parser.add_argument("--since", type=_instant, help="only dead letters that failed at or after this time")


def _instant(text: str) -> datetime:
    at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


# -- reading ------------------------------------------------------------------------------------------------


async def read_letters(bootstrap: str, topic: str) -> list[Letter]:
    """Every record of the topic from its start to its end now (no consumer group: nothing is committed)."""
    kafka = shared_kafka_settings(bootstrap)
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await partitions_of(kafka, [topic])
        if not partitions:
            raise LookupError(f"topic {topic!r} does not exist")
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        letters: list[Letter] = []
        while await _behind(consumer, ends):
            batches = await consumer.getmany(timeout_ms=READ_TIMEOUT_MS)
            for tp, records in batches.items():
                letters += [
                    _letter(tp.partition, r.offset, r.value or b"", r.headers) for r in records if r.offset < ends[tp]
                ]
        return sorted(letters, key=lambda letter: (letter.partition, letter.offset))
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False


def _letter(partition: int, offset: int, value: bytes, headers: Sequence[tuple[str, bytes]]) -> Letter:
    try:
        dead: DeadLetter | None = DLQ.deserialize(value)
    except ValueError:
        dead = None
    trace = trace_id_in(headers) or trace_id_of(dead.source if dead else None)
    return Letter(partition, offset, dead, value, trace)


def selected(letters: Iterable[Letter], reasons: list[str], stage: str | None, since: datetime | None) -> list[Letter]:
    def keep(letter: Letter) -> bool:
        dead = letter.dead
        if dead is None:
            return not (reasons or stage or since)
        return (
            (not reasons or dead.reason.value in reasons)
            and (stage is None or dead.stage == stage)
            and (since is None or dead.failed_at >= since)
        )

    return [letter for letter in letters if keep(letter)]


def line(letter: Letter) -> str:
    dead = letter.dead
    if dead is None:
        return f"{letter.position}\t(not a dead letter: {letter.raw[:80]!r})"
    source = _source_text(dead.source)
    message = dead.message.replace("\n", " ")[:120]
    fields = [letter.position, dead.failed_at.isoformat(), dead.stage, dead.reason.value, source]
    return "\t".join([*fields, letter.trace_id or "-", message])


def _source_text(source: SourcePosition | None) -> str:
    if source is None:
        return "-"
    return f"s3://{source.bucket}/{source.key} records {source.record_start}..{source.record_end - 1}"


# -- commands -----------------------------------------------------------------------------------------------


def run_list(args: argparse.Namespace) -> int:
    letters = selected(asyncio.run(read_letters(args.bootstrap, args.topic)), args.reason, args.stage, args.since)
    for letter in letters[-args.limit :]:
        sys.stdout.write(line(letter) + "\n")
    sys.stdout.write(f"# {len(letters)} dead letters\n")
    return 0


def run_show(args: argparse.Namespace) -> int:
    partition, _, offset = args.position.rpartition(":")
    wanted = (int(partition or 0), int(offset))
    for letter in asyncio.run(read_letters(args.bootstrap, args.topic)):
        if (letter.partition, letter.offset) == wanted:
            body = (
                letter.dead.model_dump(mode="json")
                if letter.dead
                else {"undecodable": letter.raw.decode(errors="replace")}
            )
            shown = {"position": letter.position, "trace_id": letter.trace_id, **body}
            sys.stdout.write(json.dumps(shown, indent=2) + "\n")
            return 0
    sys.stderr.write(f"no record at {args.position} in {args.topic}\n")
    return 1


def replay_plan(letters: list[Letter]) -> tuple[dict[tuple[str, str], list[str]], list[str]]:
    """The source objects to read again ((bucket, key) -> positions of their dead letters), and the positions
    that cannot be replayed from S3 (no source position)."""
    objects: dict[tuple[str, str], list[str]] = {}
    unreplayable: list[str] = []
    for letter in letters:
        source = letter.dead.source if letter.dead else None
        if source is None:
            unreplayable.append(letter.position)
        else:
            objects.setdefault((source.bucket, source.key), []).append(letter.position)
    return objects, unreplayable


def run_replay(args: argparse.Namespace) -> int:
    letters = asyncio.run(read_letters(args.bootstrap, args.topic))
    if args.position:
        wanted = {p if ":" in p else f"0:{p}" for p in args.position}
        letters = [letter for letter in letters if letter.position in wanted]
    else:
        letters = selected(letters, args.reason, args.stage, args.since)
    objects, unreplayable = replay_plan(letters)
    for (bucket, key), positions in sorted(objects.items()):
        sys.stdout.write(
            f"{'would replay' if args.dry_run else 'replay'}\ts3://{bucket}/{key}\t{','.join(positions)}\n"
        )
    for position in unreplayable:
        sys.stdout.write(f"skip\t{position}\tno source position: not replayable from S3\n")
    if args.dry_run or not objects:
        return 0
    asyncio.run(forget_checkpoints(args.bootstrap, args.checkpoint_topic, list(objects)))
    if args.database_url:
        asyncio.run(audit(args.database_url, args.actor, objects))
    else:
        sys.stderr.write("no DATABASE_URL: the replay is not recorded in audit_log\n")
    if args.poll:
        request = urllib.request.Request(f"{args.poll.rstrip('/')}/poll", method="POST")
        with urllib.request.urlopen(request, timeout=600) as response:
            sys.stdout.write(response.read().decode() + "\n")
    return 0


async def forget_checkpoints(bootstrap: str, topic: str, objects: list[tuple[str, str]]) -> None:
    """Tombstone each object's checkpoint: the next poll publishes the object again, whole."""
    producer = AIOKafkaProducer(
        **shared_kafka_settings(bootstrap).client_options(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for bucket, key in objects:
            await producer.send_and_wait(topic, None, key=checkpoint_key(bucket, key).encode())
    finally:
        await producer.stop()


async def audit(dsn: str, actor: str, objects: dict[tuple[str, str], list[str]]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.executemany(
            "INSERT INTO audit_log (actor, action, subject, detail) VALUES ($1, 'dlq.replay', $2, $3::jsonb)",
            [
                (actor, f"s3://{bucket}/{key}", json.dumps({"dead_letters": positions}))
                for (bucket, key), positions in sorted(objects.items())
            ],
        )
    finally:
        await conn.close()


def run_purge(args: argparse.Namespace) -> int:
    deleted = asyncio.run(purge(args.bootstrap, args.topic, args.before))
    for tp, before in sorted(deleted.items()):
        sys.stdout.write(f"{tp.topic}:{tp.partition}\tdeleted before offset {before}\n")
    return 0


async def purge(bootstrap: str, topic: str, before: datetime) -> dict[TopicPartition, int]:
    """Delete every record older than ``before`` (by broker timestamp) from each partition."""
    kafka = shared_kafka_settings(bootstrap)
    consumer = AIOKafkaConsumer(**kafka.client_options(), group_id=None)
    admin = AIOKafkaAdminClient(**kafka.client_options())
    await consumer.start()
    await admin.start()
    try:
        partitions = await partitions_of(kafka, [topic])
        found = await consumer.offsets_for_times({tp: int(before.timestamp() * 1000) for tp in partitions})
        ends = await consumer.end_offsets(partitions)
        # The first record at or after the time; none: every record is older, delete up to the end.
        cut = {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in partitions}
        wanted = {tp: RecordsToDelete(before_offset=offset) for tp, offset in cut.items() if offset > 0}
        if wanted:
            await admin.delete_records(wanted)
        return {tp: cut[tp] for tp in wanted}
    finally:
        await admin.close()
        await consumer.stop()
