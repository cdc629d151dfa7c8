"""What each part of the readings schema costs PostgreSQL per stored row (issue 19's PostgreSQL direction).

    uv run --frozen python bench/schema_costs.py                # default fleet, 3 rounds
    uv run --frozen python bench/schema_costs.py --meters 300 --rounds 1

The default fleet of ``make bench`` (from its cache in .local/bench, generated if absent) is COPYed into a
fresh migrated database per variant, the writer's way: 50,000 rows per COPY, one transaction each, one
connection. Variants: the schema as migrated (primary key, ``readings_ts_idx``, the statement-level hourly
rollup trigger), without ``readings_ts_idx``, without the rollup's insert trigger, and with the primary key
only. Per variant and round: the wall time and the CPU time of the PostgreSQL backend that ran the COPYs
(psutil on ``pg_backend_pid()``: the WAL writer's and checkpointer's share is not in it). Rounds alternate
the variants; the medians are reported, and each part's cost is the difference of two variants' medians.
Prints one JSON document on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg
import psutil
from meterflow_harness.paths import REPO
from meterflow_harness.servers import Servers, start_missing_servers, stop_servers

sys.path.insert(0, str(REPO))
from bench.progress import log
from bench.run import COLUMNS, fleet_rows, make_fleet
from bench.scratch import Resources

BATCH_ROWS = 50_000
VARIANTS: dict[str, tuple[str, ...]] = {
    "as migrated": (),
    "without readings_ts_idx": ("DROP INDEX readings_ts_idx",),
    "without the rollup trigger": ("DROP TRIGGER readings_hourly_insert ON readings",),
    "primary key only": ("DROP INDEX readings_ts_idx", "DROP TRIGGER readings_hourly_insert ON readings"),
}


async def load(dsn: str, rows: Sequence[tuple[Any, ...]], changes: Sequence[str]) -> dict[str, float]:
    """COPY every row in the writer's batch size after ``changes`` to the schema; wall and backend CPU."""
    conn = await asyncpg.connect(dsn)
    try:
        for statement in changes:
            await conn.execute(statement)
        backend = psutil.Process(await conn.fetchval("SELECT pg_backend_pid()"))
        cpu_before = sum(backend.cpu_times()[:2])
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH_ROWS):
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "readings", records=rows[start : start + BATCH_ROWS], columns=list(COLUMNS)
                )
        seconds = time.perf_counter() - started
        cpu = sum(backend.cpu_times()[:2]) - cpu_before
        stored = await conn.fetchval("SELECT count(*) FROM readings")
    finally:
        await conn.close()
    if stored != len(rows):
        raise RuntimeError(f"{stored} rows stored of {len(rows)}")
    return {"seconds": seconds, "backend_cpu_s": cpu}


def summary(runs: dict[str, list[dict[str, float]]], rows: int) -> dict[str, Any]:
    per_row = {
        name: {
            "rows_per_s": round(rows / statistics.median(r["seconds"] for r in results)),
            "backend_cpu_us_per_row": round(1e6 * statistics.median(r["backend_cpu_s"] for r in results) / rows, 3),
            "rounds": len(results),
        }
        for name, results in runs.items()
    }
    cpu = {name: figures["backend_cpu_us_per_row"] for name, figures in per_row.items()}
    return {
        "variants": per_row,
        "cost_us_per_row": {
            "readings_ts_idx": round(cpu["as migrated"] - cpu["without readings_ts_idx"], 3),
            "hourly rollup trigger": round(cpu["as migrated"] - cpu["without the rollup trigger"], 3),
            "both": round(cpu["as migrated"] - cpu["primary key only"], 3),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=1000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--rounds", type=int, default=3, help="rounds over the variants (default 3)")
    args = parser.parse_args(argv)
    servers = Servers.from_env()
    started_servers = start_missing_servers(announce=log)
    res = Resources(servers)
    try:
        fleet = make_fleet(args.meters, args.days, 42, date(2023, 2, 1), 0.2, use_cache=True)
        rows = fleet_rows(fleet)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in VARIANTS}
        for round_ in range(1, args.rounds + 1):
            for name, changes in VARIANTS.items():
                dsn = res.database("schema")
                result = asyncio.run(load(dsn, rows, changes))
                res.drop(dsn)
                runs[name].append(result)
                log(f"round {round_}, {name}: {len(rows) / result['seconds']:,.0f} rows/s, {result}")
        print(json.dumps({"rows": len(rows), "batch_rows": BATCH_ROWS, **summary(runs, len(rows))}, indent=2))
    finally:
        res.close()
        stop_servers(started_servers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
