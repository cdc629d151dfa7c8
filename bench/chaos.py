"""The chaos run: a fleet of demo meters flows through the real poller, normalizer, writer and API while a
seeded scheduler SIGKILLs random stages, restarts Kafka and PostgreSQL and re-uploads corrected objects; at
the end the readings table must equal the expected table value for value and the DLQ hold exactly the
planted bad records.

    uv run --frozen python bench/chaos.py [--seed 12] [--meters 220] [--days 42] [--kills 30] ...
    make chaos

Kafka and PostgreSQL are the run's OWN instances (free ports, state folders of their own, through
infra/kafka/kafka.sh and infra/timescale/pg.sh), so restarting them touches nobody else; S3 is the shared
moto server (MF_S3_ENDPOINT) with a bucket of the run's own. Each event waits until the table holds a
random share of the fleet (so it lands mid-stream: readings still missing) and every killed stage is
started again at once. The figures printed at the end are computed by comparing the table with the
expected one; tests/reliability/test_chaos_short.py runs a small version of the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg2
from meterflow_cli.demo import Household, households, records
from meterflow_contracts import ALL_TOPICS, CHECKPOINTS, DLQ, READINGS_V2, TopicDurability, is_leader_generation_record
from meterflow_contracts.admin import create_topics
from meterflow_harness.api_keys import admin_key, auth_headers
from meterflow_harness.kafka import GroupProbe, read_all
from meterflow_harness.names import unique
from meterflow_harness.paths import REPO
from meterflow_harness.pipeline import STAGES, Pipeline, Topics
from meterflow_harness.ports import free_port
from meterflow_harness.postgres import create_database
from meterflow_harness.processes import ServiceProcess
from meterflow_harness.servers import Servers
from meterflow_obis import decode
from meterflow_schema import migrate

Key = tuple[str, str, int]  # muid, normalized OBIS, interval start in epoch seconds
OBIS_OF = {"0100011D00FF": decode("0100011D00FF").obis, "0100021D00FF": decode("0100021D00FF").obis}
START = date(2023, 1, 2)
# The bad records planted in every planted object, by the reason each must reach the DLQ with.
PLANTED_REASONS = ("invalid_timestamp", "invalid_muid", "invalid_value", "invalid_obis", "invalid_shape")


def planted_record(reason: str, meter: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "measurement": "energy",
        "timestamp": "2023-01-02T00:00:00Z",
        "tags": {"muid": meter},
        "0100011D00FF": 0.5,
    }
    if reason == "invalid_timestamp":
        record["timestamp"] = "not a time"
    elif reason == "invalid_muid":
        record["tags"] = {"muid": "x"}
    elif reason == "invalid_value":
        record["0100011D00FF"] = "0.5"
    elif reason == "invalid_obis":
        record["XYZ"] = record.pop("0100011D00FF")
    else:
        record["measurement"] = "voltage"
    return record


def log(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class ChaosConfig:
    seed: int = 12
    meters: int = 220
    days: int = 42
    kills: int = 30
    kafka_restarts: int = 2
    pg_restarts: int = 2
    corrections: int = 6
    planted_objects: int = 4
    # Events fire when the table holds a random share of the fleet between these two.
    first_share: float = 0.02
    last_share: float = 0.8
    held_back_share: float = 0.1
    settle_timeout_s: float = 1200


@dataclass
class ChaosResult:
    seed: int
    expected_readings: int = 0
    rows: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    kills_mid_stream: int = 0
    kafka_restarts: int = 0
    pg_restarts: int = 0
    corrections: int = 0
    unplanned_exits: Counter[str] = field(default_factory=Counter)
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    wrong: int = 0
    dlq_planted: int = 0
    dlq_messages: int = 0
    dlq_distinct: int = 0
    dlq_missing: int = 0
    dlq_unexpected: int = 0
    api_answers: bool = False
    seconds: float = 0.0

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())

    @property
    def exact(self) -> bool:
        return not (
            self.lost or self.duplicated or self.unexpected or self.wrong or self.dlq_missing or self.dlq_unexpected
        )

    def lines(self) -> list[str]:
        return [
            f"seed {self.seed}",
            f"kills {self.total_kills} ({', '.join(f'{k} {n}' for k, n in sorted(self.kills.items()))}); "
            f"mid-stream {self.kills_mid_stream}",
            f"restarts kafka {self.kafka_restarts}, postgresql {self.pg_restarts}; "
            f"corrected objects {self.corrections}; "
            f"unplanned exits {sum(self.unplanned_exits.values())} {dict(self.unplanned_exits)}",
            f"readings expected {self.expected_readings}, in the table {self.rows}",
            f"lost {self.lost}, duplicated {self.duplicated}, unexpected {self.unexpected}, wrong {self.wrong}",
            f"dlq planted {self.dlq_planted}, distinct {self.dlq_distinct} (messages {self.dlq_messages}), "
            f"missing {self.dlq_missing}, unexpected {self.dlq_unexpected}",
            f"api answers {self.api_answers}; {self.seconds:.0f} s",
        ]


# -- the run's own servers ------------------------------------------------------------------------------


@dataclass
class OwnServers:
    """A Kafka broker and a PostgreSQL cluster of this run only (free ports, own state folders)."""

    state: Path
    kafka_env: dict[str, str]
    pg_env: dict[str, str]
    s3_endpoint: str

    @property
    def servers(self) -> Servers:
        return Servers(
            kafka=f"127.0.0.1:{self.kafka_env['KAFKA_PORT']}",
            pg_admin_dsn=f"postgresql://meterflow:meterflow@127.0.0.1:{self.pg_env['PGPORT']}/postgres",
            s3_endpoint=self.s3_endpoint,
        )

    def kafka(self, command: str) -> None:
        run_script("infra/kafka/kafka.sh", command, self.kafka_env)

    def postgres(self, command: str) -> None:
        run_script("infra/timescale/pg.sh", command, self.pg_env)

    def restart_kafka(self) -> None:
        self.kafka("stop")
        self.kafka("start")

    def restart_postgres(self) -> None:
        self.postgres("restart")


def run_script(script: str, command: str, env: dict[str, str]) -> None:
    subprocess.run(["bash", script, command], cwd=REPO, env={**os.environ, **env}, check=True, capture_output=True)


@contextmanager
def own_servers(s3_endpoint: str) -> Iterator[OwnServers]:
    """Start the run's Kafka and PostgreSQL; stop them and delete their data afterwards."""
    # /var/tmp: as root, pg.sh runs the server as the postgres user, who cannot enter a private checkout.
    state = Path("/var/tmp") / f"meterflow-chaos-{os.getpid()}"
    own = OwnServers(
        state,
        {
            "KAFKA_PORT": str(free_port()),
            "KAFKA_CONTROLLER_PORT": str(free_port()),
            "KAFKA_STATE_DIR": str(state / "kafka"),
            "KAFKA_HEAP_OPTS": "-Xmx384m -Xms384m",
        },
        {"PGPORT": str(free_port()), "MF_PG_DIR": str(state / "pg")},
        s3_endpoint,
    )
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o755)
    try:
        log(f"starting the run's own Kafka ({own.servers.kafka}) and PostgreSQL (port {own.pg_env['PGPORT']})")
        own.kafka("start")
        own.postgres("start")
        yield own
    finally:
        for stop, name in ((own.kafka, "Kafka"), (own.postgres, "PostgreSQL")):
            try:
                stop("stop")
            except subprocess.CalledProcessError as error:
                log(f"stopping {name} failed: {error.stderr!r}")
        shutil.rmtree(state, ignore_errors=True)


# -- the fleet and what the table must hold --------------------------------------------------------------


@dataclass
class Fleet:
    """The bucket's objects (key -> body) and the readings and dead letters they must lead to."""

    objects: dict[str, bytes] = field(default_factory=dict)
    # Uploaded after the last event: until then readings are missing whatever the pace, so every event
    # lands mid-stream.
    held_back: dict[str, bytes] = field(default_factory=dict)
    expected: dict[Key, float] = field(default_factory=dict)
    planted: Counter[tuple[str, str]] = field(default_factory=Counter)
    # (key, body, readings) of corrected objects: under the original's key, or a new one.
    corrections: list[tuple[str, bytes, dict[Key, float]]] = field(default_factory=list)


def epoch(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp())


def readings_of(source: list[dict[str, Any]]) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for record in source:
        muid = str(record["tags"]["muid"])
        for hex_code, obis in OBIS_OF.items():
            if hex_code in record:
                out[(muid, obis, epoch(str(record["timestamp"])))] = float(record[hex_code])
    return out


def body(source: list[dict[str, Any]]) -> bytes:
    return json.dumps({"data": source}, separators=(",", ":")).encode()


def corrected(source: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same records with every third value changed, as a re-delivered, corrected object."""
    out = []
    for index, record in enumerate(source):
        record = dict(record)
        if index % 3 == 0:
            for hex_code in OBIS_OF:
                if hex_code in record:
                    record[hex_code] = round(float(record[hex_code]) + 0.5, 4)
        out.append(record)
    return out


def planted_object(rng: random.Random) -> tuple[list[Any], dict[Key, float], list[str]]:
    meter = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    good = [
        {
            "measurement": "energy",
            "timestamp": f"2023-01-03T0{i}:00:00Z",
            "tags": {"muid": meter},
            "0100011D00FF": i / 4,
        }
        for i in range(8)
    ]
    bad = [planted_record(reason, meter) for reason in PLANTED_REASONS]
    return [*good[:4], *bad, *good[4:]], readings_of(good), list(PLANTED_REASONS)


def make_fleet(config: ChaosConfig, rng: random.Random) -> Fleet:
    fleet = Fleet()
    houses: list[Household] = households(config.meters, config.seed, pv_share=0.25)
    corrected_houses = rng.sample(houses, config.corrections)
    held = 0
    for house in houses:
        source = list(records(house, START, config.days, config.seed))
        key = f"fleet/{house.muid}.json"
        readings = readings_of(source)
        fleet.expected.update(readings)
        if held < config.held_back_share * config.meters * config.days * 96 and house not in corrected_houses:
            fleet.held_back[key] = body(source)
            held += len(readings)
        else:
            fleet.objects[key] = body(source)
    for n, house in enumerate(corrected_houses):
        source = corrected(list(records(house, START, config.days, config.seed)))
        # Every other correction comes under a new key: only the source order (the object's modification
        # time) then says it is newer than the original, which may be replayed after it.
        key = f"fleet/{house.muid}.json" if n % 2 == 0 else f"corrections/{house.muid}.json"
        fleet.corrections.append((key, body(source), readings_of(source)))
    for n in range(config.planted_objects):
        source, expected, reasons = planted_object(rng)
        key = f"planted/bad-{n}.json"
        fleet.objects[key] = body(source)
        fleet.expected.update(expected)
        fleet.planted.update((key, reason) for reason in reasons)
    return fleet


# -- the pipeline under chaos ----------------------------------------------------------------------------


class ChaosPipeline(Pipeline):
    """The pipeline with a factory per stage, so a killed stage is started again with its settings."""

    def build(self, kind: str) -> ServiceProcess:
        if kind == "poller":
            return self.poller(POLLER_INTERVAL_S="2", POLLER_JITTER_S="0", POLLER_RETRY_MAX_S="2")
        if kind == "normalizer":
            return self.normalizer()
        if kind == "writer":
            return self.writer(WRITER_RETRY_MAX_S="2", WRITER_BATCH_MAX_ROWS="20000")
        return self.api()

    def restart(self, kind: str) -> None:
        self.start(self.build(kind))

    def supervise(self, result: ChaosResult) -> None:
        """Start again any stage that ended on its own (as an orchestrator would), and count it."""
        for kind in STAGES:
            service = self.services.get(kind)
            if service is not None and service.process is not None and service.process.poll() is not None:
                log(f"{kind} exited on its own with {service.process.returncode}; starting it again")
                result.unplanned_exits[kind] += 1
                self.restart(kind)


def table_rows(dsn: str) -> int:
    """Readings in the table, from the channels' exact counts (cheap to ask often); -1 while PostgreSQL is down."""
    try:
        with psycopg2.connect(dsn, connect_timeout=3) as conn, conn.cursor() as cur:
            cur.execute("SELECT coalesce(sum(readings), 0) FROM channels")
            row = cur.fetchone()
            return int(row[0]) if row else 0
    except psycopg2.Error:
        return -1


def wait_for(
    condition: Callable[[], bool], pipeline: ChaosPipeline, result: ChaosResult, timeout: float, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        pipeline.supervise(result)
        time.sleep(0.2)


def schedule(config: ChaosConfig, rng: random.Random, total: int) -> list[tuple[int, str]]:
    """(rows in the table, event) pairs in table order: each event fires once the table holds that many rows.
    An event is "kill <stage>", "kafka", "postgres" or "correct"."""
    events = (
        ["kill"] * config.kills
        + ["kafka"] * config.kafka_restarts
        + ["postgres"] * config.pg_restarts
        + ["correct"] * config.corrections
    )
    rng.shuffle(events)
    events = [f"kill {rng.choice(STAGES)}" if event == "kill" else event for event in events]
    shares = sorted(rng.uniform(config.first_share, config.last_share) for _ in events)
    return [(int(share * total), event) for share, event in zip(shares, events, strict=True)]


def fire(
    event: str, own: OwnServers, pipeline: ChaosPipeline, fleet: Fleet, rng: random.Random, result: ChaosResult, s3: Any
) -> None:
    if event.startswith("kill "):
        kind = event.removeprefix("kill ")
        rows = table_rows(pipeline.dsn)
        pipeline.services[kind].kill()
        result.kills[kind] += 1
        # Mid-stream: readings were still missing when the kill landed.
        result.kills_mid_stream += 0 <= rows < result.expected_readings
        log(f"SIGKILL {kind} at {rows} rows")
        pipeline.restart(kind)
    elif event == "kafka":
        log(f"restarting Kafka at {table_rows(pipeline.dsn)} rows")
        own.restart_kafka()
        result.kafka_restarts += 1
    elif event == "postgres":
        log(f"restarting PostgreSQL at {table_rows(pipeline.dsn)} rows")
        own.restart_postgres()
        result.pg_restarts += 1
    else:
        key, data, expected = fleet.corrections[result.corrections]
        s3.put_object(Bucket=pipeline.bucket, Key=key, Body=data)
        fleet.expected.update(expected)
        result.corrections += 1
        log(f"corrected {key} uploaded")


def bucket_etags(s3: Any, bucket: str) -> dict[str, str]:
    etags = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            etags[item["Key"]] = item["ETag"]
    return etags


def checkpointed(kafka: str, topic: str, bucket: str) -> dict[str, str]:
    latest: dict[str, str] = {}
    for record in asyncio.run(read_all(kafka, topic)):
        if record.value is None or is_leader_generation_record(record.key):
            continue
        checkpoint = CHECKPOINTS.deserialize(record.value)
        if checkpoint.bucket == bucket:
            latest[checkpoint.key] = checkpoint.etag
    return latest


def all_checkpointed(pipeline: ChaosPipeline, s3: Any) -> bool:
    try:
        done = checkpointed(pipeline.servers.kafka, pipeline.topics.checkpoints, pipeline.bucket)
    except Exception:  # Kafka still coming back: not yet
        return False
    listed = bucket_etags(s3, pipeline.bucket)
    return all(done.get(key) == etag.strip('"') or done.get(key) == etag for key, etag in listed.items())


def groups_caught_up(pipeline: ChaosPipeline) -> bool:
    async def check() -> bool:
        kafka, suffix = pipeline.servers.kafka, pipeline.topics.suffix
        async with (
            GroupProbe(kafka, f"normalizer{suffix}", pipeline.topics.raw) as raw,
            GroupProbe(kafka, f"writer{suffix}", pipeline.topics.readings) as written,
        ):
            return await raw.caught_up() and await written.caught_up()

    try:
        return asyncio.run(check())
    except Exception:  # Kafka still coming back: not yet
        return False


def compare_table(dsn: str, expected: dict[Key, float], result: ChaosResult) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT muid::text, obis, extract(epoch FROM ts)::bigint, value FROM readings")
        actual: Counter[Key] = Counter()
        values: dict[Key, float] = {}
        for muid, obis, ts, value in cur:
            key = (muid, obis, int(ts))
            actual[key] += 1
            values[key] = value
        cur.execute("SELECT coalesce(sum(readings), 0) FROM channels")
        row = cur.fetchone()
        counted = int(row[0]) if row else 0
    result.rows = sum(actual.values())
    result.lost = len(expected.keys() - actual.keys())
    result.unexpected = len(actual.keys() - expected.keys())
    # A row stored twice, or a reading counted twice in the channels' exact counts.
    result.duplicated = sum(n - 1 for n in actual.values()) + max(0, counted - result.rows)
    result.wrong = sum(1 for key in expected.keys() & values.keys() if values[key] != expected[key])


def compare_dlq(pipeline: ChaosPipeline, planted: Counter[tuple[str, str]], result: ChaosResult) -> None:
    messages = asyncio.run(read_all(pipeline.servers.kafka, pipeline.topics.dlq))
    distinct: set[tuple[str, str, str, str]] = set()
    for message in messages:
        letter = DLQ.deserialize(message.value or b"")
        key = letter.source.key if letter.source is not None else ""
        etag = letter.source.etag if letter.source is not None else ""
        # At-least-once: a replay after a kill sends a dead letter again; the same letter counts once.
        distinct.add((key, etag, str(letter.reason), json.dumps(letter.record, sort_keys=True, default=str)))
    found = Counter((key, reason) for key, _, reason, _ in distinct)
    result.dlq_messages = len(messages)
    result.dlq_distinct = len(distinct)
    result.dlq_planted = sum(planted.values())
    result.dlq_missing = sum((planted - found).values())
    result.dlq_unexpected = sum((found - planted).values())


def api_answers(pipeline: ChaosPipeline) -> bool:
    try:
        headers = auth_headers(asyncio.run(admin_key(pipeline.dsn)))
        response = httpx.get(f"{pipeline.api_url}/v1/meters", params={"limit": 1}, timeout=10, headers=headers)
        return response.status_code == 200
    except (httpx.HTTPError, OSError):
        return False


def run_chaos(config: ChaosConfig, log_dir: Path, s3_endpoint: str | None = None) -> ChaosResult:
    """The whole run on a Kafka and a PostgreSQL of its own and the S3 server at ``s3_endpoint`` (default:
    MF_S3_ENDPOINT or the local one); returns the computed figures (asserting nothing)."""
    began = time.monotonic()
    rng = random.Random(config.seed)
    result = ChaosResult(seed=config.seed)
    fleet = make_fleet(config, rng)
    log(f"fleet: {len(fleet.objects)} objects, {len(fleet.expected)} readings, {sum(fleet.planted.values())} planted")
    with own_servers(s3_endpoint or Servers.from_env().s3_endpoint) as own:
        servers = own.servers
        suffix = unique(".chaos")
        # Its own broker has one node: one replica, as the local stack.
        asyncio.run(create_topics(servers.kafka, ALL_TOPICS, suffix=suffix, durability=TopicDurability.single_broker()))
        dsn = asyncio.run(create_database(servers.pg_admin_dsn, unique("mf_chaos_")))
        asyncio.run(migrate(dsn))
        s3 = servers.s3_client()
        bucket = unique("mf-chaos-")
        s3.create_bucket(Bucket=bucket)
        for key, data in fleet.objects.items():
            s3.put_object(Bucket=bucket, Key=key, Body=data)
        result.expected_readings = len(fleet.expected)
        # The readings go through the columnar contract, as in production.
        topics = replace(Topics.with_suffix(suffix), readings=READINGS_V2.name + suffix)
        pipeline = ChaosPipeline(servers, topics, dsn, bucket, log_dir)
        try:
            for kind in reversed(STAGES):
                pipeline.restart(kind)
            for event_rows, event in schedule(config, rng, len(fleet.expected)):

                def reached(rows: int = event_rows) -> bool:
                    return table_rows(dsn) >= rows

                wait_for(
                    reached,
                    pipeline,
                    result,
                    config.settle_timeout_s,
                    f"{event_rows} rows before {event}",
                )
                time.sleep(rng.uniform(0, 0.5))
                fire(event, own, pipeline, fleet, rng, result, s3)
            for key, data in fleet.held_back.items():
                s3.put_object(Bucket=bucket, Key=key, Body=data)
            log(f"events done, {len(fleet.held_back)} held-back objects uploaded; waiting for the end")
            wait_for(lambda: all_checkpointed(pipeline, s3), pipeline, result, config.settle_timeout_s, "checkpoints")
            wait_for(lambda: groups_caught_up(pipeline), pipeline, result, config.settle_timeout_s, "consumer groups")
            compare_table(dsn, fleet.expected, result)
            compare_dlq(pipeline, fleet.planted, result)
            result.api_answers = api_answers(pipeline)
        finally:
            pipeline.stop()
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    s3.delete_object(Bucket=bucket, Key=item["Key"])
            s3.delete_bucket(Bucket=bucket)
    result.seconds = time.monotonic() - began
    return result


def main(argv: list[str] | None = None) -> int:
    defaults = ChaosConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    for name in ("seed", "meters", "days", "kills", "kafka_restarts", "pg_restarts", "corrections"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    parser.add_argument("--log-dir", type=Path, default=REPO / ".local" / "chaos")
    args = parser.parse_args(argv)
    config = ChaosConfig(
        seed=args.seed,
        meters=args.meters,
        days=args.days,
        kills=args.kills,
        kafka_restarts=args.kafka_restarts,
        pg_restarts=args.pg_restarts,
        corrections=args.corrections,
    )
    log_dir = args.log_dir / time.strftime("%Y%m%dT%H%M%S")
    log(f"logs in {log_dir}")
    result = run_chaos(config, log_dir)
    for line in result.lines():
        print(line)
    return 0 if result.exact and result.kills_mid_stream == result.total_kills else 1


if __name__ == "__main__":
    sys.exit(main())
