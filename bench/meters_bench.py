"""GET /v1/meters benchmark: latency and req/s of the meter listing on a large readings table.

    uv run python bench/meters_bench.py                                        # 3 M readings, 10,000 meters
    uv run python bench/meters_bench.py --readings 30000000 --meters 100000    # the target: 30 M readings

Target: p99 < 50 ms on a table of 30 million readings. The listing reads only the channels table (one row
per meter and channel, kept by the writer), so its cost must not grow with the readings.

It creates a scratch database from --admin-dsn (migrated with the project's migrations) and fills it in SQL:
--meters meters (muid from md5, so they are spread over the key space), each with an import channel and every
fifth with an export channel too, and as many 15-minute readings per channel as make --readings in all.
The readings go in without indexes or triggers, which are put back afterwards (primary key and ts index; the
hourly rollup is not needed here and stays unfilled); the channels rows are written from the same
parameters, as the writer would have kept them. Then the API runs under uvicorn and is driven with
api_bench.py's load generator and measurement (wrk, rounds, medians), scenario by scenario:
  first     GET /v1/meters                       the first page (default limit)
  deep      GET /v1/meters?cursor=...            a page 90 % into the meters (keyset: no offset to skip)
  widest    GET /v1/meters?limit=<max>&cursor=   the largest page, from the middle
Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from api_bench import add_load_arguments, run_scenario, summary_head  # bench/ is on sys.path: run as a script
from meterflow_harness.api_keys import admin_key, auth_headers
from meterflow_harness.postgres import create_database, drop_database

DEFAULT_ADMIN_DSN = "postgresql://meterflow:meterflow@127.0.0.1:5432/postgres"
IMPORT, EXPORT = "1-0:1.29.0*255", "1-0:2.29.0*255"
START = datetime(2023, 1, 1, tzinfo=UTC)
EXPORT_EVERY = 5  # every fifth meter has a PV export channel too
CHUNK_METERS = 5_000  # meters per INSERT statement: progress in the log, bounded transactions

_METERS = """
CREATE UNLOGGED TABLE bench_meters AS
SELECT i, md5('meter-' || i)::uuid AS muid FROM generate_series(1, $1::int) AS i
"""
# One statement per chunk of meters: every channel's readings from START on, one per 15 minutes.
_READINGS = """
INSERT INTO readings (muid, obis, ts, value, quality)
SELECT m.muid, c.obis, $3::timestamptz + s * interval '15 minutes', ((s * 7 + m.i) % 97) / 100.0, 'measured'
FROM bench_meters m
CROSS JOIN LATERAL (
    SELECT $5::text AS obis UNION ALL SELECT $6::text WHERE m.i % $7 = 0
) c
CROSS JOIN generate_series(0, $4::int - 1) AS s
WHERE m.i BETWEEN $1 AND $2
"""
_CHANNELS = """
INSERT INTO channels (muid, obis, quantity, direction, unit, measurement, interval_s, first_ts, last_ts, readings)
SELECT m.muid, c.obis, 'active_energy', c.direction, 'kWh', 'energy', 900,
       $1::timestamptz, $1::timestamptz + ($2::int - 1) * interval '15 minutes', $2::int
FROM bench_meters m
CROSS JOIN LATERAL (
    SELECT $3::text AS obis, 'import' AS direction UNION ALL SELECT $4::text, 'export' WHERE m.i % $5 = 0
) c
"""


def log(message: str) -> None:
    print(f"[meters_bench] {message}", file=sys.stderr, flush=True)


def per_channel(readings: int, meters: int) -> int:
    """Readings per channel so that the table holds about ``readings`` in all."""
    channels = meters + meters // EXPORT_EVERY
    return max(1, round(readings / channels))


async def build_database(admin_dsn: str, readings: int, meters: int) -> tuple[str, str, dict[str, Any]]:
    """Create, migrate and fill a scratch database; returns (name, dsn, what it holds)."""
    import asyncpg
    from meterflow_schema import migrate

    name = f"mf_meters_bench_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(admin_dsn, name)
    await migrate(dsn)
    rows = per_channel(readings, meters)
    began = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        # A bulk load: the indexes are built once afterwards (a sort) instead of row by row, and the hourly
        # rollup's triggers stay off (the listing does not read it).
        await conn.execute("ALTER TABLE readings DISABLE TRIGGER USER")
        await conn.execute("ALTER TABLE readings DROP CONSTRAINT readings_pkey")
        await conn.execute("DROP INDEX readings_ts_idx")
        await conn.execute(_METERS, meters)
        for first in range(1, meters + 1, CHUNK_METERS):
            last = min(meters, first + CHUNK_METERS - 1)
            await conn.execute(_READINGS, first, last, START, rows, IMPORT, EXPORT, EXPORT_EVERY)
            log(f"readings of meters {first}..{last} of {meters} ({time.monotonic() - began:.0f} s)")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        await conn.execute("ALTER TABLE readings ADD PRIMARY KEY (muid, obis, ts)")
        await conn.execute("CREATE INDEX readings_ts_idx ON readings (ts DESC)")
        await conn.execute(_CHANNELS, START, rows, IMPORT, EXPORT, EXPORT_EVERY)
        await conn.execute("DROP TABLE bench_meters")
        await conn.execute("VACUUM ANALYZE readings")
        await conn.execute("VACUUM ANALYZE channels")
        held = {
            "readings": await conn.fetchval("SELECT count(*) FROM readings"),
            "meters": meters,
            "channels": await conn.fetchval("SELECT count(*) FROM channels"),
            "readings_per_channel": rows,
            "channels_readings_sum": await conn.fetchval("SELECT sum(readings)::bigint FROM channels"),
            "build_s": round(time.monotonic() - began, 1),
        }
    finally:
        await conn.close()
    log(f"scratch database {name}: {json.dumps(held)}")
    return name, dsn, held


async def muid_at(dsn: str, fraction: float) -> uuid.UUID:
    """The meter ``fraction`` of the way through the listing (by muid)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        count = await conn.fetchval("SELECT count(DISTINCT muid) FROM channels")
        muid: uuid.UUID = await conn.fetchval(
            "SELECT muid FROM (SELECT DISTINCT muid FROM channels) m ORDER BY muid OFFSET $1 LIMIT 1",
            int(count * fraction),
        )
        return muid
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    from meterflow_api.domain import MAX_METERS_LIMIT, encode_meters_cursor

    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--admin-dsn", default=os.environ.get("MF_PG_ADMIN_DSN", DEFAULT_ADMIN_DSN))
    parser.add_argument("--dsn", help="use this database as it is (channels filled) instead of a scratch one")
    parser.add_argument("--readings", type=int, default=3_000_000, help="readings in the scratch table (about)")
    parser.add_argument("--meters", type=int, default=10_000, help="meters in the scratch table")
    add_load_arguments(parser)
    parser.add_argument("--scenarios", default="first,deep,widest", help="comma-separated: first, deep, widest")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (its DSN is logged)")
    args = parser.parse_args(argv)

    scratch: str | None = None
    held: dict[str, Any] = {}
    if args.dsn:
        dsn = args.dsn
    else:
        scratch, dsn, held = asyncio.run(build_database(args.admin_dsn, args.readings, args.meters))
    database = urlsplit(dsn).path.lstrip("/") or None
    env = {"API_DATABASE_URL": dsn, "API_POOL_MAX_SIZE": str(args.pool_size), "API_LOG_LEVEL": "WARNING"}
    # The rate limit stays on (its cost is part of the figure) but far above any load the benchmark creates.
    env["API_LIMITS__PER_CREDENTIAL"] = "1000000/second"
    results: dict[str, Any] = {}
    headers = auth_headers(asyncio.run(admin_key(dsn)))  # an admin key lists every meter
    try:
        deep = encode_meters_cursor(asyncio.run(muid_at(dsn, 0.9)))
        middle = encode_meters_cursor(asyncio.run(muid_at(dsn, 0.5)))
        paths = {
            "first": "/v1/meters",
            "deep": f"/v1/meters?cursor={deep}",
            "widest": f"/v1/meters?limit={MAX_METERS_LIMIT}&cursor={middle}",
        }
        for scenario in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
            try:
                results[scenario] = run_scenario(scenario, paths[scenario], args, env, database, headers)
            except (RuntimeError, httpx.HTTPError, OSError, subprocess.CalledProcessError) as error:
                results[scenario] = {"path": paths[scenario], "error": repr(error)}
    finally:
        if scratch is not None and not args.keep:
            asyncio.run(drop_database(args.admin_dsn, scratch))
        elif scratch is not None:
            log(f"kept {dsn}")

    # The target is about the listing as clients page through it (default limit); "widest" is for information.
    worst_p99 = max(
        (row["p99_ms"] for name in ("first", "deep") for row in results.get(name, {}).get("median", [])),
        default=float("nan"),
    )
    summary = {
        **summary_head("query-api /v1/meters", args),
        "data": held,
        "results": results,
        "targets": {"first_and_deep_p99_lt_50ms_at_every_concurrency": worst_p99 < 50},
    }
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
