"""Writer benchmark: the writer alone, fed from a pre-filled topic, against the bare limit of the same run.

    uv run python bench/writer_bench.py [--readings 1000000] [--per-message 2688]
        [--dsn-admin postgresql://meterflow:meterflow@127.0.0.1:5432/postgres] [--bootstrap 127.0.0.1:9092]

1. Builds ``--readings`` readings as meter.readings.v1 ReadingBatch messages of ``--per-message`` readings
   (2688 = 28 days of 15-minute values: one meter, one channel, one month-ish object) and produces them to a
   topic of its own (6 partitions, like meter.readings.v1).
2. Bare limit: asyncpg COPY of the same rows straight into the readings table of a fresh, migrated
   database, in transactions of ``--batch-max-rows`` rows (the writer's commit size); measured before and
   after the writer, and averaged, because the load of a shared machine changes within a run.
3. The writer: ``meterflow-writer`` as a process on another fresh database, timed from the moment it owns
   the partitions to the moment it reports every reading written; its peak RSS is the kernel's VmHWM.

Prints a JSON summary (rates in rows/s, the ratio, peak RSS in MB, targets) and exits 0; it cleans up its
databases and topic. Needs the local Kafka and PostgreSQL (``make up`` or the test fixtures' servers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from meterflow_contracts import READINGS, READINGS_V2, ReadingBatch, TopicDurability
from meterflow_contracts.admin import create_topics
from meterflow_contracts.columnar import to_columns
from meterflow_harness.kafka import delete_topics, produce
from meterflow_harness.messages import encoded_batches, reading_batch
from meterflow_harness.metrics import metric_value
from meterflow_harness.paths import BIN
from meterflow_harness.ports import free_port
from meterflow_harness.postgres import create_database, drop_database
from meterflow_harness.processes import ServiceProcess, peak_rss, service_env
from meterflow_schema import migrate

TARGET_RATIO = 0.6
TARGET_RSS_MB = 300
# How often the writer's /metrics is read: often enough for a 0.5 % timing error on a 20 s run, rarely
# enough not to load the writer.
POLL_SECONDS = 0.1
COLUMNS = ("muid", "obis", "ts", "value", "quality")
START = datetime(2023, 1, 1, tzinfo=UTC)
LAST_MODIFIED = datetime(2023, 2, 1, 6, tzinfo=UTC)


def build_messages(readings: int, per_message: int) -> list[ReadingBatch]:
    messages: list[ReadingBatch] = []
    made = 0
    index = 0
    while made < readings:
        n = min(per_message, readings - made)
        muid = uuid.uuid5(uuid.NAMESPACE_URL, f"meterflow-bench/meter/{index}")
        values = [round((index * 7919 + i) % 10_000 * 0.001, 3) for i in range(n)]
        message = reading_batch(
            muid, "1-0:1.29.0*255", START, values, bucket="bench", key=f"bench/{index}.json", etag="e"
        )
        # The source version, as the normalizer sends it: the object's last-modified time, each record's index.
        source = message.source.model_copy(update={"last_modified": LAST_MODIFIED})
        messages.append(message.model_copy(update={"source": source, "record_indexes": list(range(n))}))
        made += n
        index += 1
    return messages


async def migrated_database(admin_dsn: str, name: str) -> str:
    dsn = await create_database(admin_dsn, name)
    await migrate(dsn)
    return dsn


async def fill_topic(bootstrap: str, suffix: str, messages: list[ReadingBatch], contract: str = "v2") -> str:
    """A readings topic of this run's own (the declared partitions and settings), holding ``messages`` in
    the readings contract ``contract`` (v2: columns, what the normalizer publishes; v1: triples)."""
    spec = READINGS_V2 if contract == "v2" else READINGS
    await create_topics(bootstrap, (spec,), suffix=suffix, durability=TopicDurability.single_broker())
    topic = spec.name + suffix
    encoded = (
        encoded_batches(messages) if contract == "v1" else [READINGS_V2.serialize(to_columns(m)) for m in messages]
    )
    await produce(bootstrap, topic, encoded)
    return topic


async def bare_copy(dsn: str, messages: list[ReadingBatch], batch_rows: int) -> float:
    """Seconds to COPY every row straight into readings, one transaction per ``batch_rows``."""
    rows = [(m.muid, m.obis, ts, v, q) for m in messages for ts, v, q in m.readings]
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        for i in range(0, len(rows), batch_rows):
            async with conn.transaction():
                await conn.copy_records_to_table("readings", records=rows[i : i + batch_rows], columns=COLUMNS)
        elapsed = time.perf_counter() - started
        assert await conn.fetchval("SELECT count(*) FROM readings") == len(rows)
    finally:
        await conn.close()
    return elapsed


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def run_writer(
    bootstrap: str, dsn: str, topic: str, readings: int, batch_rows: int, log_path: Path, optimistic: bool
) -> tuple[float, float, dict[str, float]]:
    """Seconds the writer takes from owning the partitions to every reading written, its peak RSS (MB), and
    where its time went (sums of its duration histograms)."""
    port = free_port()
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": dsn,
        "WRITER_READINGS_TOPIC": topic,
        "WRITER_DLQ_TOPIC": topic + ".dlq",
        "WRITER_GROUP_ID": f"bench-{topic}",
        "WRITER_OPS_PORT": str(port),
        "WRITER_BATCH_MAX_ROWS": str(batch_rows),
        "WRITER_OPTIMISTIC_COPY": str(optimistic).lower(),
        "LOG_LEVEL": "WARNING",
    }
    with httpx.Client(timeout=2) as client:
        writer = ServiceProcess(
            "writer", [str(BIN / "meterflow-writer")], service_env(env), log_path, f"http://127.0.0.1:{port}", client
        ).start()
        try:
            return time_writer(writer, readings)
        finally:
            writer.stop(30)


def time_writer(writer: ServiceProcess, readings: int) -> tuple[float, float, dict[str, float]]:
    started = None
    cpu_at_start = 0.0
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        writer.assert_running()
        try:
            text = writer.metrics()
        except httpx.HTTPError:
            time.sleep(POLL_SECONDS)
            continue
        if started is None and metric_value(text, "meterflow_writer_assigned_partitions") > 0:
            started = time.perf_counter()
            cpu_at_start = cpu_seconds(writer.pid)
        if started is not None and metric_value(text, "meterflow_writer_rows_total") >= readings:
            elapsed = time.perf_counter() - started
            inside = {
                "write_transactions_s": round(metric_value(text, "meterflow_writer_write_duration_seconds_sum"), 3),
                "copy_to_staging_s": round(metric_value(text, "meterflow_writer_copy_duration_seconds_sum"), 3),
                "transactions": metric_value(text, "meterflow_writer_write_duration_seconds_count"),
                "writer_process_cpu_s": round(cpu_seconds(writer.pid) - cpu_at_start, 3),
            }
            return elapsed, (peak_rss(writer.pid) or float("nan")) / 2**20, inside
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"the writer did not finish in time; log: {writer.log_path}")


async def bare_copy_fresh(args: argparse.Namespace, name: str, messages: list[ReadingBatch]) -> float:
    dsn = await migrated_database(args.dsn_admin, name)
    try:
        return await bare_copy(dsn, messages, args.batch_max_rows)
    finally:
        await drop_database(args.dsn_admin, name)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    writer_db = f"mf_bench_writer_{suffix}"
    messages = build_messages(args.readings, args.per_message)
    readings = sum(len(m.readings) for m in messages)
    topic = await fill_topic(args.bootstrap, f".bench-{suffix}", messages, args.contract)
    try:
        # The bare limit before and after the writer: on a shared machine the load changes within a run.
        bare_before = await bare_copy_fresh(args, f"mf_bench_bare1_{suffix}", messages)
        writer_dsn = await migrated_database(args.dsn_admin, writer_db)
        try:
            log_path = Path(args.log_dir) / f"writer-bench-{suffix}.log"
            writer_seconds, rss_mb, inside = await asyncio.to_thread(
                run_writer,
                args.bootstrap,
                writer_dsn,
                topic,
                readings,
                args.batch_max_rows,
                log_path,
                not args.upsert_only,
            )
            conn = await asyncpg.connect(writer_dsn)
            try:
                stored = await conn.fetchval("SELECT count(*) FROM readings")
            finally:
                await conn.close()
        finally:
            await drop_database(args.dsn_admin, writer_db)
        bare_after = await bare_copy_fresh(args, f"mf_bench_bare2_{suffix}", messages)
    finally:
        await delete_topics(args.bootstrap, [topic])
    bare_rate = readings / ((bare_before + bare_after) / 2)
    writer_rate = readings / writer_seconds
    ratio = writer_rate / bare_rate
    return {
        "benchmark": "writer",
        "readings": readings,
        "messages": len(messages),
        "readings_per_message": args.per_message,
        "batch_max_rows": args.batch_max_rows,
        "contract": args.contract,
        "writer_path": "staging upsert only" if args.upsert_only else "optimistic COPY, staging upsert on conflict",
        "bare_copy_seconds": [round(bare_before, 3), round(bare_after, 3)],
        "bare_copy_rows_per_s": round(bare_rate),
        "writer_seconds": round(writer_seconds, 3),
        "writer_rows_per_s": round(writer_rate),
        "ratio": round(ratio, 3),
        "writer_peak_rss_mb": round(rss_mb, 1),
        "writer_time": inside,
        "rows_stored": stored,
        "targets": {"ratio_min": TARGET_RATIO, "rss_mb_max": TARGET_RSS_MB},
        "meets_targets": ratio >= TARGET_RATIO and rss_mb < TARGET_RSS_MB and stored == readings,
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--per-message", type=int, default=2688)
    parser.add_argument("--contract", choices=("v2", "v1"), default="v2", help="readings contract of the messages")
    parser.add_argument("--batch-max-rows", type=int, default=50_000, help="the writer's WRITER_BATCH_MAX_ROWS")
    parser.add_argument(
        "--dsn-admin",
        "--admin-dsn",
        dest="dsn_admin",
        default=os.environ.get("MF_PG_ADMIN_DSN", "postgresql://meterflow:meterflow@127.0.0.1:5432/postgres"),
        help="a role that may CREATE DATABASE",
    )
    parser.add_argument("--bootstrap", default=os.environ.get("MF_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument(
        "--upsert-only", action="store_true", help="WRITER_OPTIMISTIC_COPY=false: always COPY to staging + upsert"
    )
    parser.add_argument("--log-dir", default="/tmp", help="where the writer's log goes")
    args = parser.parse_args()
    summary = asyncio.run(main_async(args))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
