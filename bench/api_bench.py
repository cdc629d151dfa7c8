"""Query API benchmark: requests per second and latency of the hot endpoints, against a real PostgreSQL.

    uv run python bench/api_bench.py                       # temporary database on the local cluster
    uv run python bench/api_bench.py --duration 20 --concurrency 32 --workers 2 --load-procs 2
    uv run python bench/api_bench.py --dsn postgresql://.../meterflow --muid <uuid>   # existing data

It creates a scratch database from --admin-dsn (migrated with the project's migrations, one meter-month
loaded: the real Exnaton import file when $MF_SHARED_DATA has it, else a generated month of 15-minute
readings), starts the API with uvicorn in a subprocess (like production: uvloop, httptools, N workers),
and drives it with an async httpx load generator of bounded concurrency for a fixed duration, after a
warm-up. Scenarios:
  series    GET /v1/meters/{muid}/series?interval=1d  (one month, daily sums)     target >= 1000 req/s, p99 <= 50 ms
  readings  GET /v1/meters/{muid}/readings?limit=3000 (one month of raw readings)
  ceiling   a bare FastAPI endpoint returning a constant, served the same way (the framework's ceiling)
Prints one JSON document (configuration, machine, per-scenario req/s and latency percentiles) on stdout;
progress goes to stderr. The load generator shares the machine with the server: on a small box it takes a
large part of the CPU, so the numbers are a lower bound of what the API does with a separate client.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN_DSN = "postgresql://meterflow:meterflow@127.0.0.1:5432/postgres"
SHARED_DATA = Path(os.environ.get("MF_SHARED_DATA", REPO.parent / "shared" / "data" / "exnaton-2023-02"))
REAL_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"


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


def month_rows() -> tuple[str, list[tuple[Any, ...]]]:
    """One meter-month: the real import file if available, else a generated February of 15-minute values."""
    path = SHARED_DATA / f"{REAL_MUID}.json"
    if path.is_file():
        rows = []
        for record in json.loads(path.read_bytes())["data"]:
            ts = datetime.fromisoformat(record["timestamp"])
            rows.append((uuid.UUID(REAL_MUID), "1-0:1.29.0*255", ts, float(record["0100011D00FF"]), "measured"))
        return REAL_MUID, rows
    muid = str(uuid.uuid4())
    rng = random.Random(7)
    start = datetime(2023, 2, 1, tzinfo=UTC)
    step = timedelta(minutes=15)
    meter = uuid.UUID(muid)
    obis = "1-0:1.29.0*255"
    rows = [(meter, obis, start + i * step, round(rng.uniform(0.01, 0.9), 4), "measured") for i in range(28 * 96)]
    return muid, rows


async def prepare_database(admin_dsn: str) -> tuple[str, str, str]:
    """Create, migrate and load a scratch database; returns (name, dsn, muid)."""
    import asyncpg
    from meterflow_writer.migrations import migrate

    name = f"mf_api_bench_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    dsn = urlunsplit(urlsplit(admin_dsn)._replace(path=f"/{name}"))
    await migrate(dsn)
    muid, rows = month_rows()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("readings", records=rows, columns=["muid", "obis", "ts", "value", "quality"])
        await conn.execute("VACUUM ANALYZE readings")
    finally:
        await conn.close()
    return name, dsn, muid


async def drop_database(admin_dsn: str, name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


# --- server -------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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


class RawClient:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams: a small fraction of httpx's CPU per
    request, so a load generator sharing the machine leaves more of it to the server. It only understands
    what uvicorn sends here (Content-Length bodies)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        self.request = f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
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


async def drive(url: str, concurrency: int, warmup: float, duration: float, client_kind: str) -> dict[str, Any]:
    """Closed loop: `concurrency` workers each send the next request when the previous one completed."""
    latencies: list[float] = []
    errors = 0
    statuses: dict[int, int] = {}
    measuring = False
    stop_at = time.monotonic() + warmup + duration
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as shared:

        async def worker() -> None:
            nonlocal errors
            raw = RawClient(url) if client_kind == "raw" else None
            try:
                while time.monotonic() < stop_at:
                    started = time.perf_counter()
                    try:
                        if raw is not None:
                            status = await raw.get()
                        else:
                            response = await shared.get(url)
                            await response.aread()
                            status = response.status_code
                    except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError):
                        status = 0
                        if raw is not None:
                            await raw.close()
                            raw = RawClient(url)
                    elapsed = time.perf_counter() - started
                    statuses[status] = statuses.get(status, 0) + 1
                    if measuring and time.monotonic() < stop_at:
                        if status == 200:
                            latencies.append(elapsed)
                        else:
                            errors += 1
            finally:
                if raw is not None:
                    await raw.close()

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        measured_from = time.monotonic()
        cpu_from = time.process_time()
        await asyncio.gather(*tasks)
        measured_for = min(time.monotonic(), stop_at) - measured_from
        cpu = time.process_time() - cpu_from
    return {"latencies": latencies, "errors": errors, "seconds": measured_for, "statuses": statuses, "cpu": cpu}


def _drive_in_process(args: tuple[str, int, float, float, str]) -> dict[str, Any]:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    return asyncio.run(drive(*args))


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


def load(
    url: str,
    concurrency: int,
    warmup: float,
    duration: float,
    procs: int,
    client_kind: str,
    meter: CpuMeter | None = None,
) -> dict[str, Any]:
    share = max(1, concurrency // procs)
    job = (url, share, warmup, duration, client_kind)
    if procs == 1:
        parts = [_drive_in_process(job)]
    else:
        with multiprocessing.get_context("spawn").Pool(procs) as pool:
            parts = pool.map(_drive_in_process, [job] * procs)
    used = meter.used() if meter is not None else {}
    latencies = sorted(latency for part in parts for latency in part["latencies"])
    seconds = max(part["seconds"] for part in parts)
    errors = sum(part["errors"] for part in parts)
    if not latencies:
        return {"requests": 0, "errors": errors, "rps": 0.0}
    # The server's CPU is sampled over warm-up plus measurement; scale it to the measured requests' share.
    share_measured = duration / (warmup + duration)
    per_request = {
        "api": used.get("api", 0.0) * share_measured / len(latencies) * 1000,
        "db": used.get("db", 0.0) * share_measured / len(latencies) * 1000,
        "load_generator": sum(part["cpu"] for part in parts) / len(latencies) * 1000,
    }

    def pct(q: float) -> float:
        latency: float = latencies[min(len(latencies) - 1, int(q * len(latencies)))]
        return round(latency * 1000, 2)

    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(latencies[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(latencies) * 1000, 2),
        "cpu_ms_per_request": {kind: round(value, 3) for kind, value in per_request.items()},
    }


# --- main ---------------------------------------------------------------------------------------------------


def run_scenario(
    scenario: str, path: str, args: argparse.Namespace, env: dict[str, str], database: str | None
) -> dict[str, Any]:
    app = "api_bench:ceiling_app" if scenario == "ceiling" else "meterflow_api.main:app_from_env"
    port = free_port()
    server = start_server(app, port, args.workers, env)
    try:
        url = f"http://127.0.0.1:{port}{path}"
        probe = httpx.get(url, timeout=10)
        probe.raise_for_status()
        log(f"{scenario}: {len(probe.content)} bytes/response, {args.duration:.0f} s at c={args.concurrency}")
        meter = CpuMeter(server.pid, None if scenario == "ceiling" else database)
        return {
            "path": path,
            "response_bytes": len(probe.content),
            **load(url, args.concurrency, args.warmup, args.duration, args.load_procs, args.client, meter),
        }
    finally:
        stop_server(server)


def log(message: str) -> None:
    print(f"[api_bench] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--admin-dsn", default=os.environ.get("MF_PG_ADMIN_DSN", DEFAULT_ADMIN_DSN))
    parser.add_argument("--dsn", help="use this database as it is (needs --muid) instead of a scratch one")
    parser.add_argument("--muid", help="meter to query with --dsn")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (total)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--load-procs", type=int, default=1, help="load generator processes")
    parser.add_argument(
        "--client",
        choices=["httpx", "raw"],
        default="httpx",
        help="load generator: httpx.AsyncClient, or a minimal keep-alive HTTP/1.1 client (far less CPU)",
    )
    parser.add_argument(
        "--scenarios", default="series,readings,ceiling", help="comma-separated: series, readings, ceiling"
    )
    args = parser.parse_args(argv)
    if args.dsn and not args.muid:
        parser.error("--dsn needs --muid")

    scratch: str | None = None
    if args.dsn:
        dsn, muid = args.dsn, args.muid
        scratch_db = urlsplit(dsn).path.lstrip("/") or None
    else:
        scratch, dsn, muid = asyncio.run(prepare_database(args.admin_dsn))
        scratch_db = scratch
        log(f"scratch database {scratch} with meter {muid}")
    env = {"API_DATABASE_URL": dsn, "API_POOL_MAX_SIZE": str(max(2, args.concurrency)), "API_LOG_LEVEL": "WARNING"}
    urls = {
        "series": f"/v1/meters/{muid}/series?interval=1d&agg=sum&tz=Europe/Zurich&start=2023-02-01&end=2023-03-01",
        "readings": f"/v1/meters/{muid}/readings?start=2023-02-01T00:00:00Z&end=2023-03-01T00:00:00Z&limit=3000",
        "ceiling": "/constant",
    }
    results: dict[str, Any] = {}
    try:
        for scenario in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
            try:
                results[scenario] = run_scenario(scenario, urls[scenario], args, env, scratch_db)
            except (RuntimeError, httpx.HTTPError, OSError) as error:
                # One failed scenario (a server that did not start in time on a loaded box) keeps the others.
                results[scenario] = {"path": urls[scenario], "error": repr(error)}
            log(f"{scenario}: {json.dumps(results[scenario])}")
    finally:
        if scratch is not None:
            asyncio.run(drop_database(args.admin_dsn, scratch))

    series = results.get("series", {})
    summary = {
        "benchmark": "query-api",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "config": {
            "workers": args.workers,
            "concurrency": args.concurrency,
            "load_procs": args.load_procs,
            "client": args.client,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "data": "one meter-month of 15-minute readings (2688 rows)",
        },
        "results": results,
        "targets": {
            "series_rps_ge_1000": series.get("rps", 0) >= 1000,
            "series_p99_le_50ms": series.get("p99_ms", float("inf")) <= 50,
        },
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
