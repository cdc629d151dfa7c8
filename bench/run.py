"""Meterflow benchmarks: the whole pipeline end to end, against a bare COPY ceiling and a simple loader.

Run it with ``make bench`` (= ``uv run --frozen python bench/run.py``); ``--help`` lists the options, e.g.
``--meters 50`` for a quick run, ``--skip-api --skip-writer`` to leave out the companion benchmarks,
``--profile py-spy`` to record where each service spends its CPU. What it does, in order, on a fresh
topic suffix, fresh databases and a fresh bucket (all removed at the end):

1. generates a synthetic fleet (default 1,000 meters x 28 days of 15-minute readings, PV export for a fifth),
2. end to end: normalizer(s), writer(s) and API running and healthy, the poller in schedule mode; uploads
   the fleet, asks the poller to poll and times until the last reading is queryable (count(*) in the
   database), with the time each stage finished and the peak RSS of every process (psutil, every 0.2 s),
3. freshness: one new meter-day object, a poll through ``POST /poll``, time until it is queryable (x10),
4. the ceiling: asyncpg ``copy_records_to_table`` of the same rows into an empty readings table,
5. the simple approach: ``bench/simple_loader.py`` (pandas + psycopg2 execute_values) on the same objects,
6. ``bench/api_bench.py``, ``bench/meters_bench.py`` and ``bench/writer_bench.py`` when present, one after the other,

then prints a summary and writes ``bench/results/<UTC timestamp>.json``. Kafka, PostgreSQL and S3 are used
where they run and started (then stopped again) with the project's scripts where they do not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import psutil
from meterflow_cli.demo import Household, households
from meterflow_cli.demo_cmd import render
from meterflow_harness.paths import REPO
from meterflow_harness.servers import LOCAL_CREDENTIALS, Servers, start_missing_servers, stop_servers
from meterflow_obis import decode
from meterflow_writer import db as writer_db

# `python bench/run.py` (make bench) puts bench/ on sys.path, not the repository: bench.e2e needs the latter.
sys.path.insert(0, str(REPO))
from bench.companions import BENCH, run_companion
from bench.e2e import Fleet, PipelineConfig, count_rows, run_pipeline
from bench.measuring import RssSampler, render_pyinstrument, summarize_pyspy
from bench.progress import log
from bench.report import print_summary, ratio, verdicts
from bench.scratch import Resources, upload

RESULTS = BENCH / "results"
CACHE = REPO / ".local" / "bench"
PREFIX = "challenge/"
COLUMNS = ("muid", "obis", "ts", "value", "quality")
# The writer's own staging table and upsert statement: the replay ceiling runs exactly what the writer runs.
WRITER_CREATE_STAGING = writer_db._CREATE_STAGING
WRITER_UPSERT = writer_db._UPSERT


# -- the fleet -------------------------------------------------------------------------------------------


def _render(args: tuple[Household, date, int, int]) -> bytes:
    return render(*args)


def make_fleet(meters: int, days: int, seed: int, start: date, pv_share: float, use_cache: bool) -> Fleet:
    """The fleet's objects, generated on both cores; kept in .local/bench/ so the next run skips it."""
    houses = households(meters, seed, pv_share)
    folder = CACHE / f"fleet-m{meters}-d{days}-s{seed}-{start.isoformat()}-pv{pv_share}"
    keys = [f"{PREFIX}{h.muid}.json" for h in houses]
    if use_cache and (folder / ".complete").exists():
        log(f"fleet from the cache {folder.relative_to(REPO)}")
        objects = {key: (folder / f"{h.muid}.json").read_bytes() for key, h in zip(keys, houses, strict=True)}
        return Fleet(houses, start, days, seed, objects)
    log(f"generating {meters} meters x {days} days")
    started = time.perf_counter()
    with ProcessPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        bodies = list(pool.map(_render, [(h, start, days, seed) for h in houses], chunksize=8))
    log(f"generated in {time.perf_counter() - started:.1f} s")
    if use_cache:
        folder.mkdir(parents=True, exist_ok=True)
        for house, body in zip(houses, bodies, strict=True):
            (folder / f"{house.muid}.json").write_bytes(body)
        (folder / ".complete").touch()
    return Fleet(houses, start, days, seed, dict(zip(keys, bodies, strict=True)))


def fleet_rows(fleet: Fleet) -> list[tuple[uuid.UUID, str, datetime, float, str]]:
    """Every reading of the fleet as a row of the readings table (what the pipeline stores)."""
    rows: list[tuple[uuid.UUID, str, datetime, float, str]] = []
    names: dict[str, str] = {}
    envelope = {"measurement", "timestamp", "tags"}
    for body in fleet.objects.values():
        for record in orjson.loads(body)["data"]:
            muid = uuid.UUID(record["tags"]["muid"])
            ts = datetime.fromisoformat(record["timestamp"])
            quality = record["tags"]["quality"]
            for key, value in record.items():
                if key in envelope:
                    continue
                obis = names.get(key) or names.setdefault(key, decode(key).obis)
                rows.append((muid, obis, ts, float(value), quality))
    return rows


# -- ceiling and simple loader ---------------------------------------------------------------------------


async def copy_ceiling(dsn: str, rows: Sequence[tuple[Any, ...]]) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table("readings", records=rows, columns=list(COLUMNS))
        seconds = time.perf_counter() - started
        stored = await conn.fetchval("SELECT count(*) FROM readings")
    finally:
        await conn.close()
    return {
        "rows": len(rows),
        "rows_in_db": stored,
        "seconds": round(seconds, 3),
        "copy_ceiling_rows_per_s": round(len(rows) / seconds),
        "how": "asyncpg copy_records_to_table, one connection, one COPY, empty migrated readings table",
    }


async def upsert_ceiling(dsn: str, rows: Sequence[tuple[Any, ...]], batch_rows: int = 50_000) -> dict[str, Any]:
    """The replay ceiling: the same rows again into the table the COPY ceiling filled, the way the writer's
    upsert path does it (COPY into its temporary staging table, then its INSERT ... ON CONFLICT statement),
    in the writer's batch size, one transaction per batch, over one connection: every row a no-op."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET temp_buffers = '64MB'")
        await conn.execute(WRITER_CREATE_STAGING)
        started = time.perf_counter()
        for start in range(0, len(rows), batch_rows):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "readings_staging", records=rows[start : start + batch_rows], columns=list(COLUMNS)
                )
                await conn.fetch(WRITER_UPSERT)
        seconds = time.perf_counter() - started
    finally:
        await conn.close()
    return {
        "rows": len(rows),
        "seconds": round(seconds, 3),
        "upsert_ceiling_rows_per_s": round(len(rows) / seconds),
        "how": f"the writer's staging COPY + upsert SQL, {batch_rows:,} rows per transaction, into the loaded table",
    }


def run_simple_loader(servers: Servers, res: Resources, expected: int, page_size: int) -> dict[str, Any]:
    dsn = res.database("simple")
    argv = [sys.executable, str(BENCH / "simple_loader.py"), "--dsn", dsn, "--bucket", res.bucket]
    argv += ["--prefix", PREFIX, "--s3-endpoint", servers.s3_endpoint, "--page-size", str(page_size)]
    env = {**os.environ, **LOCAL_CREDENTIALS}
    env.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    sampler = RssSampler()
    sampler.watch("simple_loader", process.pid)
    sampler.start()
    out, err = process.communicate()
    peaks = sampler.stop()
    if process.returncode != 0:
        raise RuntimeError(f"simple_loader.py exited with {process.returncode}:\n{err.decode()[-3000:]}")
    summary: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    summary["rows_in_db"] = count_rows(dsn)
    summary["expected_rows"] = expected
    summary["peak_rss_mb"] = peaks.get("simple_loader")
    summary["simple_loader_rows_per_s"] = summary["rows_per_s"]
    res.drop(dsn)
    return summary


# -- machine ---------------------------------------------------------------------------------------------


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def machine(servers: Servers) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": cpu_model(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    pom = (REPO / "infra" / "kafka" / "pom.xml").read_text()
    if match := re.search(r"<kafka\.version>(.*?)</kafka\.version>", pom):
        info["kafka"] = match.group(1)

    async def postgres() -> dict[str, Any]:
        conn = await asyncpg.connect(servers.pg_admin_dsn)
        try:
            settings = await conn.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[])",
                ["shared_buffers", "synchronous_commit", "fsync", "max_wal_size", "work_mem", "wal_level"],
            )
            return {
                "version": await conn.fetchval("SHOW server_version"),
                "timescaledb": await conn.fetchval(
                    "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"
                ),
                **{r["name"]: f"{r['setting']}{r['unit'] or ''}" for r in settings},
            }
        finally:
            await conn.close()

    info["postgres"] = asyncio.run(postgres())
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO)
    dirty = subprocess.run(["git", "status", "--porcelain", "services", "libs"], capture_output=True, text=True)
    info["git"] = git.stdout.strip() + (" + uncommitted service changes" if dirty.stdout.strip() else "")
    return info


# -- main ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000, help="households in the fleet (default 1000)")
    parser.add_argument("--days", type=int, default=28, help="days of 15-minute readings (default 28)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2023, 2, 1), help="first day (UTC)")
    parser.add_argument("--pv-share", type=float, default=0.2, help="share of households with PV export")
    parser.add_argument("--normalizers", type=int, default=1, help="normalizer workers (default 1)")
    parser.add_argument("--writers", type=int, default=1, help="writer instances (default 1)")
    parser.add_argument(
        "--write-concurrency",
        type=int,
        help="WRITER_WRITE_CONCURRENCY: transactions each writer has in flight (default: the writer's, 2)",
    )
    parser.add_argument(
        "--readings",
        choices=("v2", "v1", "both"),
        default="v2",
        help="readings contract between normalizer and writer: v2 (columns, default), v1, or v2 with v1 also "
        "published (NORMALIZER_ALSO_V1_TOPIC: the cost of keeping v1 subscribers)",
    )
    parser.add_argument("--freshness-tries", type=int, default=10, help="new meter-day objects timed (default 10)")
    parser.add_argument("--page-size", type=int, default=1_000, help="simple loader rows per INSERT (default 1000)")
    parser.add_argument("--skip-e2e", action="store_true", help="leave out the pipeline (and freshness)")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--skip-simple", action="store_true")
    parser.add_argument("--skip-api", action="store_true", help="do not run bench/api_bench.py")
    parser.add_argument("--skip-meters", action="store_true", help="do not run bench/meters_bench.py")
    parser.add_argument("--skip-writer", action="store_true", help="do not run bench/writer_bench.py")
    parser.add_argument("--companion-timeout", type=float, default=1800, help="seconds for each companion bench")
    parser.add_argument(
        "--profile",
        choices=["py-spy", "pyinstrument"],
        help="profile poller, normalizer(s) and writer(s) during the load (slows them: figures are not comparable)",
    )
    parser.add_argument("--no-cache", action="store_true", help="generate the fleet again (not from .local/bench)")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/<UTC timestamp>.json)")
    parser.add_argument("--scale", action="store_true", help="run bench/scale.py instead (its options: --scale --help)")
    return parser.parse_args(argv)


def attempt(results: dict[str, Any], name: str, part: Callable[[], None]) -> None:
    """Run one part; a failure (say, PostgreSQL restarted by someone else on a shared machine) is recorded
    in results["errors"] and the other parts still run."""
    try:
        part()
    except Exception as error:
        log(f"{name} failed: {error!r}")
        results.setdefault("errors", {})[name] = repr(error)[:3000]


def e2e_part(
    results: dict[str, Any],
    servers: Servers,
    res: Resources,
    fleet: Fleet,
    log_dir: Path,
    config: PipelineConfig,
    tries: int,
) -> None:
    e2e = run_pipeline(servers, res, fleet, log_dir, config, tries)
    results["e2e"] = e2e
    results["e2e_readings_per_s"] = e2e["e2e_readings_per_s"]
    results["peak_rss_mb"] = e2e["peak_rss_mb"]
    results["replay_readings_per_s"] = (e2e.get("replay") or {}).get("replay_readings_per_s")
    fresh = e2e.get("freshness") or {}
    results["freshness_p50_s"] = fresh.get("freshness_p50_s")
    results["freshness_max_s"] = fresh.get("freshness_max_s")


def ceiling_part(results: dict[str, Any], res: Resources, fleet: Fleet) -> None:
    log("ceiling: preparing the rows")
    rows = fleet_rows(fleet)
    dsn = res.database("ceiling")
    log(f"ceiling: COPY of {len(rows):,} rows")
    results["ceiling"] = asyncio.run(copy_ceiling(dsn, rows))
    results["copy_ceiling_rows_per_s"] = results["ceiling"]["copy_ceiling_rows_per_s"]
    log(f"ceiling: {results['copy_ceiling_rows_per_s']:,} rows/s; staging upsert of the same rows again")
    results["upsert_ceiling"] = asyncio.run(upsert_ceiling(dsn, rows))
    results["upsert_ceiling_rows_per_s"] = results["upsert_ceiling"]["upsert_ceiling_rows_per_s"]
    del rows
    res.drop(dsn)
    log(f"ceiling: upsert {results['upsert_ceiling_rows_per_s']:,} rows/s")


def simple_part(results: dict[str, Any], servers: Servers, res: Resources, fleet: Fleet, page_size: int) -> None:
    listed = servers.s3_client().list_objects_v2(Bucket=res.bucket, Prefix=PREFIX, MaxKeys=1)
    if not listed.get("KeyCount"):  # the pipeline part was skipped, or failed before its upload
        log("uploading the fleet (for the simple loader)")
        upload(servers, res.bucket, fleet.objects)
    log(f"simple loader: pandas + execute_values(page_size={page_size}) over {len(fleet.objects)} objects")
    results["simple"] = run_simple_loader(servers, res, fleet.readings, page_size)
    results["simple_loader_rows_per_s"] = results["simple"]["simple_loader_rows_per_s"]
    log(f"simple loader: {results['simple_loader_rows_per_s']:,} rows/s")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--scale" in argv:  # the scaling benchmark instead, with its own options
        from bench.scale import main as scale_main

        return scale_main([arg for arg in argv if arg != "--scale"])
    args = parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.out or RESULTS / f"{stamp}.json"
    run_dir = CACHE / "runs" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    profile_dir = run_dir / "profile" if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    servers = Servers.from_env()
    started_servers = start_missing_servers(announce=log)
    res = Resources(servers)
    results: dict[str, Any] = {"started_at": datetime.now().astimezone().isoformat(timespec="seconds")}
    try:
        results["machine"] = machine(servers)
        fleet = make_fleet(args.meters, args.days, args.seed, args.start, args.pv_share, not args.no_cache)
        results["fleet"] = {
            "meters": args.meters,
            "days": args.days,
            "seed": args.seed,
            "start": args.start.isoformat(),
            "pv_share": args.pv_share,
            "records": fleet.records,
            "readings": fleet.readings,
            "objects": len(fleet.objects),
            "mib": round(sum(map(len, fleet.objects.values())) / 2**20, 1),
        }
        results["config"] = {
            "normalizers": args.normalizers,
            "writers": args.writers,
            "write_concurrency": args.write_concurrency or "default",
            "profile": args.profile,
            "service_settings": "defaults (LOG_LEVEL=INFO); poller in schedule mode, polls asked for by POST /poll",
        }
        res.create_topics()
        res.create_bucket()
        if not args.skip_e2e:
            config = PipelineConfig(
                args.normalizers, args.writers, args.profile, profile_dir, args.readings, args.write_concurrency
            )
            tries = 0 if args.skip_freshness else args.freshness_tries
            attempt(results, "e2e", lambda: e2e_part(results, servers, res, fleet, run_dir / "logs", config, tries))
        if not args.skip_ceiling:
            attempt(results, "ceiling", lambda: ceiling_part(results, res, fleet))
        if not args.skip_simple:
            attempt(results, "simple", lambda: simple_part(results, servers, res, fleet, args.page_size))
        results["e2e_vs_ceiling"] = ratio(results.get("e2e_readings_per_s"), results.get("copy_ceiling_rows_per_s"))
        results["replay_vs_upsert_ceiling"] = ratio(
            results.get("replay_readings_per_s"), results.get("upsert_ceiling_rows_per_s")
        )
        results["e2e_vs_simple"] = ratio(results.get("e2e_readings_per_s"), results.get("simple_loader_rows_per_s"))
        companions = (
            ("api", "api_bench.py", args.skip_api),
            ("meters", "meters_bench.py", args.skip_meters),
            ("writer", "writer_bench.py", args.skip_writer),
        )
        for name, script, skip in companions:
            if not skip:
                results[name] = run_companion(script, servers, args.companion_timeout, run_dir / "logs")
        if profile_dir is not None:
            if args.profile == "py-spy":
                results["profile"] = {
                    p.name.split(".")[0]: summarize_pyspy(p) for p in sorted(profile_dir.glob("*.pyspy.txt"))
                }
            else:
                results["profile"] = render_pyinstrument(profile_dir)
            results["profile_dir"] = str(profile_dir.relative_to(REPO))
        results["targets"] = verdicts(results)
        results["finished_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    except BaseException as error:
        results["error"] = repr(error)
        raise
    finally:
        res.close()
        stop_servers(started_servers, announce=log)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_summary(results, out)
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
