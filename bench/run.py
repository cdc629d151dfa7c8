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
6. ``bench/api_bench.py`` and ``bench/writer_bench.py`` when present, one after the other,

then prints a summary and writes ``bench/results/<UTC timestamp>.json``. Kafka, PostgreSQL and S3 are used
where they run and started (then stopped again) with the project's scripts where they do not.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import uuid
from collections import Counter
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
from meterflow_obis import decode

# `python bench/run.py` (make bench) puts bench/ on sys.path, not the repository: bench.e2e needs the latter.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.e2e import (
    REPO,
    Fleet,
    PipelineConfig,
    Resources,
    RssSampler,
    Servers,
    count_rows,
    log,
    run_pipeline,
    upload,
)

BENCH = REPO / "bench"
RESULTS = BENCH / "results"
CACHE = REPO / ".local" / "bench"
PREFIX = "challenge/"
LINE = re.compile(r":\d+\)$")
COLUMNS = ("muid", "obis", "ts", "value", "quality")
TARGETS = {
    "e2e_readings_per_s": 100_000,
    "e2e_vs_ceiling": 0.3,
    "e2e_vs_simple": 2.0,
    "peak_rss_mb": 300,
    "freshness_p50_s": 2.0,
}


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


def run_simple_loader(servers: Servers, res: Resources, expected: int, page_size: int) -> dict[str, Any]:
    dsn = res.database("simple")
    argv = [sys.executable, str(BENCH / "simple_loader.py"), "--dsn", dsn, "--bucket", res.bucket]
    argv += ["--prefix", PREFIX, "--s3-endpoint", servers.s3_endpoint, "--page-size", str(page_size)]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "meterflow-bench", "AWS_SECRET_ACCESS_KEY": "meterflow-bench"}
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


# -- companion benchmarks --------------------------------------------------------------------------------


def last_json(text: str) -> dict[str, Any] | None:
    """The JSON summary a companion printed: all of stdout, else its last line that is a JSON object."""
    with contextlib.suppress(ValueError):
        whole = json.loads(text)
        if isinstance(whole, dict):
            return whole
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                value = json.loads(line)
                if isinstance(value, dict):
                    return value
    start = text.rfind("\n{")
    if start >= 0:
        with contextlib.suppress(ValueError):
            value = json.loads(text[start + 1 :])
            if isinstance(value, dict):
                return value
    return None


def companion_args(help_text: str, values: dict[str, str]) -> list[str]:
    """The options among ``values`` that the script's --help lists (its argparse), with their values."""
    args: list[str] = []
    for flag, value in values.items():
        if re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text):
            args += [flag, value]
    return args


def run_companion(name: str, servers: Servers, timeout: float, log_dir: Path) -> dict[str, Any]:
    script = BENCH / name
    if not script.exists():
        return {"skipped": f"bench/{name} is not there"}
    help_run = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, cwd=REPO)
    endpoints = {
        "--bootstrap": servers.kafka,
        "--kafka": servers.kafka,
        "--kafka-bootstrap": servers.kafka,
        "--bootstrap-servers": servers.kafka,
        "--admin-dsn": servers.pg_admin_dsn,
        "--pg-admin-dsn": servers.pg_admin_dsn,
        "--s3-endpoint": servers.s3_endpoint,
    }
    endpoints["--log-dir"] = str(log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(script), *companion_args(help_run.stdout, endpoints)]
    log(f"running {' '.join(argv[1:])}")
    sampler = RssSampler()
    started = time.perf_counter()
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
        sampler.watch(name, process.pid)
        sampler.start()
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        sampler.stop()
        return {"error": f"timed out after {timeout:.0f} s", "argv": argv[1:]}
    peaks = sampler.stop()
    seconds = round(time.perf_counter() - started, 1)
    summary = last_json(out.decode(errors="replace"))
    if process.returncode != 0 or summary is None:
        tail = err.decode(errors="replace")[-2000:]
        return {"error": f"exited with {process.returncode}, JSON summary: {summary is not None}", "stderr": tail}
    # The script's whole process tree (its own data and the processes it starts), not one service's RSS.
    summary.setdefault("_bench", {"argv": argv[1:], "seconds": seconds, "script_tree_peak_rss_mb": peaks.get(name)})
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


# -- profile summary -------------------------------------------------------------------------------------


def summarize_pyspy(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares of CPU samples per function, from py-spy's raw (collapsed) output."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        # "function (file.py:line)" -> "function (file.py)": shares per function, whatever the line.
        frames = [LINE.sub(")", f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):  # recursion counts once
            inclusive[frame] += count

    def shares(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {"samples": total, "self_percent": shares(own), "inclusive_percent": shares(inclusive)}


def render_pyinstrument(profile_dir: Path) -> dict[str, Any]:
    rendered: dict[str, Any] = {}
    for session in sorted(profile_dir.glob("*.pyisession")):
        for renderer, suffix in (("html", ".html"), ("text", ".txt")):
            out = session.with_suffix(suffix)
            subprocess.run(
                [sys.executable, "-m", "pyinstrument", "--load", str(session), "-r", renderer, "-o", str(out)],
                check=False,
                cwd=REPO,
            )
        rendered[session.stem] = str(session.with_suffix(".html").relative_to(REPO))
    return rendered


# -- report ----------------------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 3)


def verdicts(results: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}

    def judge(name: str, value: float | None, target: float, higher_is_better: bool = True) -> None:
        if value is None:
            out[name] = {"value": None, "target": target, "met": None}
            return
        met = value >= target if higher_is_better else value <= target
        out[name] = {"value": value, "target": target, "met": met}

    judge("e2e_readings_per_s", results.get("e2e_readings_per_s"), TARGETS["e2e_readings_per_s"])
    judge("e2e_vs_ceiling", results.get("e2e_vs_ceiling"), TARGETS["e2e_vs_ceiling"])
    judge("e2e_vs_simple", results.get("e2e_vs_simple"), TARGETS["e2e_vs_simple"])
    services = {k: v for k, v in (results.get("peak_rss_mb") or {}).items() if k != "kafka"}
    judge("max_service_peak_rss_mb", max(services.values(), default=None), TARGETS["peak_rss_mb"], False)
    judge("freshness_p50_s", results.get("freshness_p50_s"), TARGETS["freshness_p50_s"], False)
    heap = (results.get("e2e") or {}).get("kafka_heap") or {}
    if heap.get("xmx"):
        out["kafka_heap_bounded"] = {"xmx": heap["xmx"], "met": heap["xmx"] == "512m"}
    return out


def companion_lines(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    api = results.get("api")
    if isinstance(api, dict) and isinstance(api.get("results"), dict):
        for scenario, figures in api["results"].items():
            for row in figures.get("median", []) if isinstance(figures, dict) else []:
                lines.append(
                    f"  API {scenario:<9} c={row.get('concurrency', '-'):<3} {row.get('rps', '-')} req/s, "
                    f"p50 {row.get('p50_ms', '-')} ms, p99 {row.get('p99_ms', '-')} ms, "
                    f"errors {row.get('errors', '-')} (medians of {row.get('runs', '-')} runs)"
                )
            if isinstance(figures, dict) and "error" in figures:
                lines.append(f"  API {scenario:<9} {figures['error']}")
    elif isinstance(api, dict):
        lines.append(f"  API bench               {json.dumps(api)[:300]}")
    writer = results.get("writer")
    if isinstance(writer, dict) and "writer_rows_per_s" in writer:
        lines.append(
            f"  writer alone            {writer['writer_rows_per_s']:,} rows/s vs bare COPY "
            f"{writer.get('bare_copy_rows_per_s', 0):,} rows/s (ratio {writer.get('ratio')}), "
            f"peak RSS {writer.get('writer_peak_rss_mb')} MB"
        )
    elif isinstance(writer, dict):
        lines.append(f"  writer bench            {json.dumps(writer)[:300]}")
    return lines


def print_summary(results: dict[str, Any], path: Path) -> None:
    def fmt(value: Any, digits: int = 0) -> str:
        if value is None:
            return "-"
        if isinstance(value, float) and math.isnan(value):
            return "-"
        if isinstance(value, int | float):
            return f"{value:,.{digits}f}"
        return str(value)

    e2e = results.get("e2e") or {}
    stages = e2e.get("stages_done_s") or {}
    m = results["machine"]
    lines = [
        "",
        f"Meterflow benchmark  {results['started_at']}  ({m['cores']} cores, {m['memory_gib']} GiB, {m['cpu_model']})",
        f"fleet: {results['fleet']['meters']} meters x {results['fleet']['days']} days = "
        f"{fmt(results['fleet']['readings'])} readings in {results['fleet']['objects']} objects "
        f"({results['fleet']['mib']:.0f} MiB)",
        f"config: {results['config']['normalizers']} normalizer(s), {results['config']['writers']} writer(s)",
        "",
        f"  end to end              {fmt(results.get('e2e_readings_per_s'))} readings/s "
        f"({fmt(e2e.get('e2e_seconds'), 2)} s; last commit at {fmt(e2e.get('e2e_seconds_at_last_commit'), 2)} s)",
        f"    stages done at        poller {fmt(stages.get('poller_published'), 2)} s, normalizer "
        f"{fmt(stages.get('normalizer_done'), 2)} s, writer {fmt(stages.get('writer_done'), 2)} s, "
        f"queryable {fmt(stages.get('queryable'), 2)} s",
        f"  COPY ceiling            {fmt(results.get('copy_ceiling_rows_per_s'))} rows/s",
        f"  simple loader           {fmt(results.get('simple_loader_rows_per_s'))} rows/s",
        f"  e2e / ceiling           {fmt(results.get('e2e_vs_ceiling'), 3)}",
        f"  e2e / simple            {fmt(results.get('e2e_vs_simple'), 2)}",
        f"  freshness p50 / max     {fmt(results.get('freshness_p50_s'), 3)} s / "
        f"{fmt(results.get('freshness_max_s'), 3)} s",
        "  peak RSS (MB)           " + ", ".join(f"{k} {v:.0f}" for k, v in (results.get("peak_rss_mb") or {}).items()),
    ]
    cpu = e2e.get("cpu") or {}
    if cpu:
        spent = ", ".join(f"{k} {v:.1f}" for k, v in sorted(cpu["cpu_seconds"].items(), key=lambda kv: -kv[1]))
        lines.append(
            f"  CPU s during the load   {spent}, other work on the machine {cpu['other_cpu_seconds']:.1f} "
            f"(busy {cpu['machine_busy_cpu_seconds'] / max(cpu['wall_seconds'], 1e-9):.2f} of "
            f"{results['machine']['cores']} cores)"
        )
        if cpu.get("restarted_during_load"):
            lines.append(f"  RESTARTED during the load (by someone else): {', '.join(cpu['restarted_during_load'])}")
    heap = e2e.get("kafka_heap") or {}
    if heap.get("xmx"):
        lines.append(
            f"  Kafka heap              -Xmx{heap['xmx']}, used {fmt(heap.get('heap_used_mb'))} MB of "
            f"{fmt(heap.get('heap_committed_mb'))} MB committed after the load"
        )
    lines += companion_lines(results)
    lines.append("")
    lines.append("  targets:")
    for name, verdict in results["targets"].items():
        met = {True: "met", False: "NOT met", None: "not measured"}[verdict.get("met")]
        shown = {k: v for k, v in verdict.items() if k != "met"}
        lines.append(f"    {name:<26}{met:<14}{shown}")
    for name, error in (results.get("errors") or {}).items():
        lines.append(f"  FAILED {name}: {error[:300]}")
    lines.append(f"\nresults: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    print("\n".join(lines))


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
    parser.add_argument("--freshness-tries", type=int, default=10, help="new meter-day objects timed (default 10)")
    parser.add_argument("--page-size", type=int, default=1_000, help="simple loader rows per INSERT (default 1000)")
    parser.add_argument("--skip-e2e", action="store_true", help="leave out the pipeline (and freshness)")
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--skip-ceiling", action="store_true")
    parser.add_argument("--skip-simple", action="store_true")
    parser.add_argument("--skip-api", action="store_true", help="do not run bench/api_bench.py")
    parser.add_argument("--skip-writer", action="store_true", help="do not run bench/writer_bench.py")
    parser.add_argument("--companion-timeout", type=float, default=1800, help="seconds for each companion bench")
    parser.add_argument(
        "--profile",
        choices=["py-spy", "pyinstrument"],
        help="profile poller, normalizer(s) and writer(s) during the load (slows them: figures are not comparable)",
    )
    parser.add_argument("--no-cache", action="store_true", help="generate the fleet again (not from .local/bench)")
    parser.add_argument("--out", type=Path, help="results file (default bench/results/<UTC timestamp>.json)")
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
    del rows
    res.drop(dsn)
    log(f"ceiling: {results['copy_ceiling_rows_per_s']:,} rows/s")


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
    args = parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = args.out or RESULTS / f"{stamp}.json"
    run_dir = CACHE / "runs" / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    profile_dir = run_dir / "profile" if args.profile else None
    if profile_dir is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
    servers = Servers.ensure()
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
            "profile": args.profile,
            "service_settings": "defaults (LOG_LEVEL=INFO); poller in schedule mode, polls asked for by POST /poll",
        }
        res.create_topics()
        res.create_bucket()
        if not args.skip_e2e:
            config = PipelineConfig(args.normalizers, args.writers, args.profile, profile_dir)
            tries = 0 if args.skip_freshness else args.freshness_tries
            attempt(results, "e2e", lambda: e2e_part(results, servers, res, fleet, run_dir / "logs", config, tries))
        if not args.skip_ceiling:
            attempt(results, "ceiling", lambda: ceiling_part(results, res, fleet))
        if not args.skip_simple:
            attempt(results, "simple", lambda: simple_part(results, servers, res, fleet, args.page_size))
        results["e2e_vs_ceiling"] = ratio(results.get("e2e_readings_per_s"), results.get("copy_ceiling_rows_per_s"))
        results["e2e_vs_simple"] = ratio(results.get("e2e_readings_per_s"), results.get("simple_loader_rows_per_s"))
        companions = (("api", "api_bench.py", args.skip_api), ("writer", "writer_bench.py", args.skip_writer))
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
        servers.stop_started()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print_summary(results, out)
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
