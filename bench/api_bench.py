"""Query API benchmark: requests per second and latency of the hot endpoints, against a real PostgreSQL.

    uv run python bench/api_bench.py                       # scratch database on the local cluster
    uv run python bench/api_bench.py --concurrency 4,8,16 --duration 15 --workers 2
    uv run python bench/api_bench.py --dsn postgresql://.../meterflow --muid <uuid>   # existing data

It creates a scratch database from --admin-dsn (migrated with the project's migrations: readings plus the
trigger-kept readings_hourly rollup), loads one meter-month per meter (the real Exnaton import file when
$MF_SHARED_DATA has it, and --meters - 1 generated meters beside it, so the queries run on indexes as in a
shared table), starts the API with uvicorn in a subprocess (like production: uvloop, httptools, N workers),
and drives it for a fixed duration after a warm-up, once per concurrency of --concurrency (closed loop:
each connection sends its next request when the previous answer is in). Scenarios:
  series    GET /v1/meters/{muid}/series?interval=1d&tz=Europe/Zurich (one month, daily sums)
            target >= 1000 req/s with p99 <= 50 ms
  cost      GET /v1/meters/{muid}/cost?tariff=ch-ht-nt&interval=1d (one Zurich month priced from the hourly
            rollup in Decimal, with daily points)
  readings  GET /v1/meters/{muid}/readings?limit=3000 (one month of raw readings)
  auth_cost the series twice, round after round: with a tenant's API key (authentication on, the default) and
            on a second server with API_AUTH__ENABLED=false (no credential); overhead_pct per concurrency,
            target <= 10 % fewer req/s with authentication
  overview  GET /v1/meters/{muid}/overview?tz=Europe/Zurich (one month: stats, daily series, heatmap, insights)
            target p99 <= 50 ms
  ceiling   a bare FastAPI endpoint returning a constant, served the same way (the framework's ceiling)
  series_computed, overview_computed
            the series and the overview on a server with API_RESPONSE_CACHE_MB=0: every request runs the
            aggregates (series and overview above are answered from the worker's response cache after the
            first request, as a repeated question is in production while the meter's data is unchanged)

Every API request sends an API key of tenant "bench", which owns the queried meter (made in the database,
as `meterflow keys create` does); the key goes to wrk as a header and never into the JSON summary.

The load generator is wrk (Debian's package; `make bench` installs it) with a Lua script that reports exact
percentiles; without wrk, a minimal asyncio HTTP/1.1 keep-alive client (--client raw) takes its place. It
shares the machine with the server and PostgreSQL. Per run: req/s, latency percentiles, non-200 answers,
and the CPU time per request of the API processes, of the PostgreSQL backends serving the benchmark
database and of the load generator. Every concurrency is measured --repeat times (round after round) and
the medians are reported; per scenario, ``at_slo`` is the concurrency with the most req/s among those with
p99 <= 50 ms, and ``vs_ceiling`` its req/s over the ceiling's in the same run (and the same for CPU per
request, steadier on a shared machine; issue 19 asks the series for >= 0.25 with p99 <= 20 ms). Prints one
JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from meterflow_harness.api_keys import assign_meters, auth_headers, make_key
from meterflow_harness.ports import free_port

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN_DSN = "postgresql://meterflow:meterflow@127.0.0.1:5432/postgres"
SHARED_DATA = Path(os.environ.get("MF_SHARED_DATA", REPO.parent / "shared" / "data" / "exnaton-2023-02"))
REAL_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
BENCH_TENANT = "bench"


def ceiling_app() -> Any:
    """The ceiling: FastAPI with one constant endpoint (uvicorn --factory api_bench:ceiling_app)."""
    from fastapi import FastAPI
    from starlette.responses import Response

    app = FastAPI()
    body = b'{"status":"ok"}'

    @app.get("/constant")
    async def constant() -> Response:
        return Response(body, media_type="application/json")

    return app


# --- data ---------------------------------------------------------------------------------------------------


OBIS = "1-0:1.29.0*255"


def generated_month(muid: uuid.UUID, seed: int) -> list[tuple[Any, ...]]:
    """A February of 15-minute values for one meter."""
    rng = random.Random(seed)
    start = datetime(2023, 2, 1, tzinfo=UTC)
    step = timedelta(minutes=15)
    return [(muid, OBIS, start + i * step, round(rng.uniform(0.01, 0.9), 4), "measured") for i in range(28 * 96)]


def meter_months(meters: int) -> tuple[str, list[tuple[Any, ...]]]:
    """The queried meter (the real import file if available, else generated) and ``meters - 1`` others."""
    path = SHARED_DATA / f"{REAL_MUID}.json"
    if path.is_file():
        muid = REAL_MUID
        rows = []
        for record in json.loads(path.read_bytes())["data"]:
            ts = datetime.fromisoformat(record["timestamp"])
            rows.append((uuid.UUID(REAL_MUID), OBIS, ts, float(record["0100011D00FF"]), "measured"))
    else:
        muid = str(uuid.uuid4())
        rows = generated_month(uuid.UUID(muid), 0)
    for index in range(1, meters):
        rows += generated_month(uuid.uuid4(), index)
    return muid, rows


async def prepare_database(admin_dsn: str, meters: int) -> tuple[str, str, str]:
    """Create, migrate and load a scratch database; returns (name, dsn, muid of the queried meter)."""
    # The queried meter belongs to tenant "bench" (assigned in main), as a tenant's key reads it.
    import asyncpg
    from meterflow_harness.postgres import create_database
    from meterflow_schema import migrate, refresh_channels

    name = f"mf_api_bench_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(admin_dsn, name)
    await migrate(dsn)
    muid, rows = meter_months(meters)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("readings", records=rows, columns=["muid", "obis", "ts", "value", "quality"])
        await refresh_channels(conn)  # COPY bypasses the writer, which keeps the channels table the API reads
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return name, dsn, muid


# --- server -------------------------------------------------------------------------------------------------


def start_server(app: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--app-dir",
        str(Path(__file__).resolve().parent),
    ]
    process = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60  # a loaded 2-core box may take a while to import everything
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{app} exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code < 600:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"{app} did not start on port {port}")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- load generator -----------------------------------------------------------------------------------------

# wrk's own summary rounds percentiles and mixes units; this prints exact ones as one JSON line.
WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,'
    .. '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


def run_wrk(url: str, concurrency: int, seconds: float, headers: dict[str, str]) -> tuple[dict[str, Any], float]:
    """One wrk run (1 thread: the machine has 2 cores to share); its report and the CPU seconds it used."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_REPORT)
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s"]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        done = subprocess.run([*command, "-s", script.name, url], capture_output=True, text=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        os.unlink(script.name)
    report = json.loads(done.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return report, cpu


class RawClient:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams, for machines without wrk. It only
    understands what uvicorn sends here (Content-Length bodies)."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self.request = f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{extra}\r\n".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def drive_raw(
    url: str, concurrency: int, seconds: float, headers: dict[str, str]
) -> tuple[dict[str, Any], float]:
    """The same closed loop as wrk, in this process: `concurrency` connections for `seconds`."""
    latencies: list[float] = []
    failures = 0
    stop_at = time.monotonic() + seconds
    cpu_from = time.process_time()
    started = time.monotonic()

    async def connection() -> None:
        nonlocal failures
        client = RawClient(url, headers)
        try:
            while time.monotonic() < stop_at:
                began = time.perf_counter()
                try:
                    status = await client.get()
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    status = 0
                    await client.close()
                    client = RawClient(url, headers)
                latencies.append(time.perf_counter() - began)
                failures += status != 200
        finally:
            await client.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    latencies.sort()

    def pct(q: float) -> int:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e6) if latencies else 0

    report = {
        "requests": len(latencies),
        "duration_us": round(elapsed * 1e6),
        "non_2xx": failures,
        "socket_errors": 0,
        "p50_us": pct(0.50),
        "p90_us": pct(0.90),
        "p99_us": pct(0.99),
        "max_us": round(latencies[-1] * 1e6) if latencies else 0,
        "mean_us": statistics.fmean(latencies) * 1e6 if latencies else 0.0,
    }
    return report, time.process_time() - cpu_from


def generate_load(
    client: str, url: str, concurrency: int, seconds: float, headers: dict[str, str]
) -> tuple[dict[str, Any], float]:
    if client == "wrk":
        return run_wrk(url, concurrency, seconds, headers)
    return asyncio.run(drive_raw(url, concurrency, seconds, headers))


class CpuMeter:
    """CPU seconds used by the API server (its process tree) and by the PostgreSQL backends serving the
    benchmark database, so the cost per request can be read even on a machine shared with other work."""

    def __init__(self, server_pid: int, database: str | None) -> None:
        self.server_pid = server_pid
        self.database = database
        self.start = self._sample()

    def _sample(self) -> dict[str, dict[int, float]]:
        import psutil

        samples: dict[str, dict[int, float]] = {"api": {}, "db": {}}
        try:
            root = psutil.Process(self.server_pid)
            for process in [root, *root.children(recursive=True)]:
                times = process.cpu_times()
                samples["api"][process.pid] = times.user + times.system
        except psutil.Error:
            pass
        if self.database is not None:
            for process in psutil.process_iter(["name", "cmdline", "cpu_times"]):
                cmdline = " ".join(process.info.get("cmdline") or [])
                used = process.info.get("cpu_times")
                if process.info.get("name") == "postgres" and f" {self.database} " in cmdline and used:
                    samples["db"][process.pid] = used.user + used.system
        return samples

    def used(self) -> dict[str, float]:
        end = self._sample()
        return {
            kind: sum(cpu - self.start[kind].get(pid, 0.0) for pid, cpu in end[kind].items()) for kind in ("api", "db")
        }


def measure(
    url: str, concurrency: int, args: argparse.Namespace, server_pid: int, database: str | None, headers: dict[str, str]
) -> dict[str, Any]:
    """Warm-up, then one measured run at ``concurrency``: throughput, latency and CPU per request."""
    generate_load(args.client, url, concurrency, args.warmup, headers)
    meter = CpuMeter(server_pid, database)
    report, load_cpu = generate_load(args.client, url, concurrency, args.duration, headers)
    used = meter.used()
    ok = report["requests"] - report["non_2xx"]
    seconds = report["duration_us"] / 1e6
    per_request = {"api": used["api"], "db": used["db"], "load_generator": load_cpu}
    return {
        "concurrency": concurrency,
        "requests": report["requests"],
        "errors": report["non_2xx"] + report["socket_errors"],
        "rps": round(ok / seconds, 1),
        "p50_ms": round(report["p50_us"] / 1000, 2),
        "p90_ms": round(report["p90_us"] / 1000, 2),
        "p99_ms": round(report["p99_us"] / 1000, 2),
        "max_ms": round(report["max_us"] / 1000, 2),
        "mean_ms": round(report["mean_us"] / 1000, 2),
        "cpu_ms_per_request": {k: round(v / max(1, report["requests"]) * 1000, 3) for k, v in per_request.items()},
    }


def medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per concurrency, the median of each figure over the repeated runs (the machine is shared and noisy)."""
    summary = []
    for concurrency in sorted({run["concurrency"] for run in runs}):
        same = [run for run in runs if run["concurrency"] == concurrency]
        figures = {
            key: round(statistics.median(run[key] for run in same), 2)
            for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms")
        }
        cpu = {
            kind: round(statistics.median(run["cpu_ms_per_request"][kind] for run in same), 3)
            for kind in same[0]["cpu_ms_per_request"]
        }
        errors = sum(run["errors"] for run in same)
        summary.append(
            {"concurrency": concurrency, "runs": len(same), **figures, "errors": errors, "cpu_ms_per_request": cpu}
        )
    return summary


def at_slo(summary: list[dict[str, Any]], p99_ms: float = 50.0) -> dict[str, Any] | None:
    """The concurrency with the most (median) req/s among those without errors and with (median) p99 <= p99_ms."""
    within = [row for row in summary if row.get("errors") == 0 and row.get("p99_ms", math.inf) <= p99_ms]
    return max(within, key=lambda row: row["rps"], default=None)


# --- main ---------------------------------------------------------------------------------------------------


def run_scenario(
    scenario: str,
    path: str,
    args: argparse.Namespace,
    env: dict[str, str],
    database: str | None,
    headers: dict[str, str],
) -> dict[str, Any]:
    app = "api_bench:ceiling_app" if scenario == "ceiling" else "meterflow_api.main:app_from_env"
    port = free_port()
    server = start_server(app, port, args.workers, env)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        probe = httpx.get(url, timeout=10, headers=headers)
        probe.raise_for_status()
        runs = []
        # Round after round over the concurrencies, so slow phases of a shared machine hit them all alike.
        for _ in range(args.repeat):
            for concurrency in args.concurrency:
                log(f"{scenario}: {len(probe.content)} bytes/response, {args.duration:.0f} s at c={concurrency}")
                db = None if scenario == "ceiling" else database
                runs.append(measure(url, concurrency, args, server.pid, db, headers))
                log(f"{scenario}: {json.dumps(runs[-1])}")
        summary = medians(runs)
        return {
            "path": path,
            "response_bytes": len(probe.content),
            "median": summary,
            "at_slo": at_slo(summary),
            "runs": runs,
        }
    finally:
        stop_server(server)


def run_auth_cost(
    path: str, args: argparse.Namespace, env: dict[str, str], database: str | None, headers: dict[str, str]
) -> dict[str, Any]:
    """The same request on two servers, authentication on (with the key) and off, measured alternately in
    every round and concurrency, so a slow phase of the shared machine hits both alike."""
    servers = {"on": (free_port(), env, headers), "off": (free_port(), {**env, "API_AUTH__ENABLED": "false"}, {})}
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, (port, server_env, sent) in servers.items():
            started[name] = start_server("meterflow_api.main:app_from_env", port, args.workers, server_env)
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10, headers=sent).raise_for_status()
        runs: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
        for _ in range(args.repeat):
            for concurrency in args.concurrency:
                for name, (port, _, sent) in servers.items():
                    url = f"http://127.0.0.1:{port}{path}"
                    runs[name].append(measure(url, concurrency, args, started[name].pid, database, sent))
                    log(f"auth_cost {name}: {json.dumps(runs[name][-1])}")
        on, off = medians(runs["on"]), medians(runs["off"])
        overhead = [
            {
                "concurrency": a["concurrency"],
                "rps_on": a["rps"],
                "rps_off": b["rps"],
                "overhead_pct": round((1 - a["rps"] / b["rps"]) * 100, 1) if b["rps"] else None,
                "p99_ms_on": a["p99_ms"],
                "p99_ms_off": b["p99_ms"],
                # CPU per request (API + PostgreSQL) moves far less than req/s on a shared machine.
                "cpu_overhead_pct": _cpu_overhead(a, b),
            }
            for a, b in zip(on, off, strict=True)
        ]
        return {"path": path, "overhead": overhead, "on": on, "off": off, "runs": runs}
    finally:
        for process in started.values():
            stop_server(process)


def _cpu_overhead(on: dict[str, Any], off: dict[str, Any]) -> float | None:
    spent_on = on["cpu_ms_per_request"]["api"] + on["cpu_ms_per_request"]["db"]
    spent_off = off["cpu_ms_per_request"]["api"] + off["cpu_ms_per_request"]["db"]
    return round((spent_on / spent_off - 1) * 100, 1) if spent_off else None


def ratios_to_ceiling(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Per scenario and concurrency, its median req/s over the ceiling's in the same run, and its CPU per request
    (API + PostgreSQL + load generator) over the ceiling's: what the req/s ratio would be if CPU alone bound both,
    the steadier figure on a shared machine."""
    ceiling = {row["concurrency"]: row for row in (results.get("ceiling") or {}).get("median", [])}
    ratios: dict[str, list[dict[str, Any]]] = {}
    for scenario, result in results.items():
        if scenario == "ceiling" or not isinstance(result, dict):
            continue
        rows = []
        for row in result.get("median", []):
            bare = ceiling.get(row["concurrency"])
            if bare is None or not bare["rps"]:
                continue
            spent, bare_spent = sum(row["cpu_ms_per_request"].values()), sum(bare["cpu_ms_per_request"].values())
            rows.append(
                {
                    "concurrency": row["concurrency"],
                    "rps_ratio": round(row["rps"] / bare["rps"], 3),
                    "cpu_ratio": round(bare_spent / spent, 3) if spent else None,
                    "p99_ms": row["p99_ms"],
                }
            )
        if rows:
            ratios[scenario] = rows
    return ratios


def log(message: str) -> None:
    print(f"[api_bench] {message}", file=sys.stderr, flush=True)


def add_load_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the load every API benchmark drives: run length, concurrencies, rounds, server, client."""
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each run")
    parser.add_argument(
        "--concurrency", type=concurrency_list, default=[4, 8, 16], help="connections in flight, one run each"
    )
    parser.add_argument("--repeat", type=int, default=3, help="rounds over the concurrencies; medians are reported")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--pool-size", type=int, default=4, help="database connections per worker")
    parser.add_argument(
        "--client",
        choices=["wrk", "raw"],
        default="wrk" if shutil.which("wrk") else "raw",
        help="load generator: wrk (default when installed), or a minimal asyncio HTTP/1.1 client",
    )


def summary_head(benchmark: str, args: argparse.Namespace) -> dict[str, Any]:
    """What every API benchmark's JSON summary opens with: the benchmark, when, the machine and the load."""
    return {
        "benchmark": benchmark,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "config": {
            "workers": args.workers,
            "pool_size_per_worker": args.pool_size,
            "concurrency": args.concurrency,
            "repeat": args.repeat,
            "client": args.client,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
        },
    }


def concurrency_list(text: str) -> list[int]:
    values = [int(part) for part in text.split(",") if part.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("a comma-separated list of positive integers, e.g. 4,8,16")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--admin-dsn", default=os.environ.get("MF_PG_ADMIN_DSN", DEFAULT_ADMIN_DSN))
    parser.add_argument("--dsn", help="use this database as it is (needs --muid) instead of a scratch one")
    parser.add_argument("--muid", help="meter to query with --dsn")
    parser.add_argument("--meters", type=int, default=100, help="meter-months in the scratch database")
    add_load_arguments(parser)
    parser.add_argument(
        "--scenarios",
        default="series,series_computed,cost,readings,overview,overview_computed,auth_cost,ceiling",
        help="comma-separated, of: series, series_computed, cost, readings, overview, overview_computed, auth_cost,"
        " ceiling",
    )
    args = parser.parse_args(argv)
    if args.dsn and not args.muid:
        parser.error("--dsn needs --muid")

    scratch: str | None = None
    if args.dsn:
        dsn, muid = args.dsn, args.muid
        scratch_db = urlsplit(dsn).path.lstrip("/") or None
    else:
        scratch, dsn, muid = asyncio.run(prepare_database(args.admin_dsn, args.meters))
        scratch_db = scratch
        log(f"scratch database {scratch}: {args.meters} meter-months, querying {muid}")
    env = {"API_DATABASE_URL": dsn, "API_POOL_MAX_SIZE": str(args.pool_size), "API_LOG_LEVEL": "WARNING"}
    asyncio.run(assign_meters(dsn, BENCH_TENANT, [muid]))
    headers = auth_headers(asyncio.run(make_key(dsn, BENCH_TENANT)))
    # The rate limit stays on (its cost is part of the figure) but far above any load the benchmark creates.
    env["API_LIMITS__PER_CREDENTIAL"] = "1000000/second"
    urls = {
        "series": f"/v1/meters/{muid}/series?interval=1d&agg=sum&tz=Europe/Zurich&start=2023-02-01&end=2023-03-01",
        "cost": f"/v1/meters/{muid}/cost?tariff=ch-ht-nt&interval=1d&start=2023-02-01&end=2023-03-01",
        "readings": f"/v1/meters/{muid}/readings?start=2023-02-01T00:00:00Z&end=2023-03-01T00:00:00Z&limit=3000",
        "overview": f"/v1/meters/{muid}/overview?tz=Europe/Zurich&start=2023-02-01&end=2023-03-01",
        "ceiling": "/constant",
    }
    urls["auth_cost"] = urls["series"]
    for computed in ("series", "overview"):
        urls[f"{computed}_computed"] = urls[computed]
    results: dict[str, Any] = {}
    try:
        for scenario in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
            try:
                if scenario == "auth_cost":
                    results[scenario] = run_auth_cost(urls[scenario], args, env, scratch_db, headers)
                else:
                    # The *_computed scenarios answer every request from the database (no response cache).
                    served = {**env, "API_RESPONSE_CACHE_MB": "0"} if scenario.endswith("_computed") else env
                    results[scenario] = run_scenario(scenario, urls[scenario], args, served, scratch_db, headers)
            except (RuntimeError, httpx.HTTPError, OSError, subprocess.CalledProcessError) as error:
                # One failed scenario (a server that did not start in time on a loaded box) keeps the others.
                results[scenario] = {"path": urls[scenario], "error": repr(error)}
    finally:
        if scratch is not None:
            from meterflow_harness.postgres import drop_database

            asyncio.run(drop_database(args.admin_dsn, scratch))

    vs_ceiling = ratios_to_ceiling(results)
    series_at_slo = (results.get("series") or {}).get("at_slo") or {}
    overheads = [row["overhead_pct"] for row in (results.get("auth_cost") or {}).get("overhead", [])]
    overheads = [o for o in overheads if o is not None]
    summary = {
        **summary_head("query-api", args),
        "data": f"{args.meters} meter-months of 15-minute readings; the series reads one of them",
        "results": results,
        "vs_ceiling": vs_ceiling,
        "targets": {
            # Issue 19: at some concurrency, the series reaches a quarter of the ceiling's req/s in the same run
            # with p99 <= 20 ms.
            "series_ge_quarter_of_ceiling_with_p99_le_20ms": any(
                row["rps_ratio"] >= 0.25 and row["p99_ms"] <= 20 for row in vs_ceiling.get("series", [])
            ),
            "series_rps_ge_1000_with_p99_le_50ms": series_at_slo.get("rps", 0) >= 1000,
            # The median over the concurrencies: one noisy run on a shared machine decides nothing alone.
            "auth_overhead_le_10pct": bool(overheads) and statistics.median(overheads) <= 10,
            "overview_p99_le_50ms_at_some_concurrency": bool((results.get("overview") or {}).get("at_slo")),
        },
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
