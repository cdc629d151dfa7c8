"""The report of a benchmark run: the targets, the verdict on each, and the summary printed at the end."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from meterflow_harness.paths import REPO

# Issue 19 raised e2e / ceiling from 0.3 to 0.75, asked the stages and the broker to spend less CPU per
# reading than PostgreSQL, freshness p50 <= 1 s and max <= 2 s, and a replay at half the upsert ceiling.
TARGETS = {
    "e2e_readings_per_s": 100_000,
    "e2e_vs_ceiling": 0.75,
    "e2e_vs_simple": 2.0,
    "stages_vs_postgres_cpu": 1.0,
    "replay_vs_upsert_ceiling": 0.5,
    "peak_rss_mb": 300,
    "freshness_p50_s": 1.0,
    "freshness_max_s": 2.0,
    "api_auth_overhead_pct": 10.0,
}


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
    judge("stages_vs_postgres_cpu", stages_vs_postgres_cpu(results), TARGETS["stages_vs_postgres_cpu"], False)
    judge("replay_vs_upsert_ceiling", results.get("replay_vs_upsert_ceiling"), TARGETS["replay_vs_upsert_ceiling"])
    services = {k: v for k, v in (results.get("peak_rss_mb") or {}).items() if k != "kafka"}
    judge("max_service_peak_rss_mb", max(services.values(), default=None), TARGETS["peak_rss_mb"], False)
    judge("freshness_p50_s", results.get("freshness_p50_s"), TARGETS["freshness_p50_s"], False)
    judge("freshness_max_s", results.get("freshness_max_s"), TARGETS["freshness_max_s"], False)
    judge("api_auth_overhead_pct", auth_overhead_pct(results.get("api")), TARGETS["api_auth_overhead_pct"], False)
    heap = (results.get("e2e") or {}).get("kafka_heap") or {}
    if heap.get("xmx"):
        out["kafka_heap_bounded"] = {"xmx": heap["xmx"], "met": heap["xmx"] == "512m"}
    return out


def stages_vs_postgres_cpu(results: dict[str, Any]) -> float | None:
    """CPU seconds of the poller, the normalizers, the writers and Kafka during the load over PostgreSQL's."""
    cpu = (((results.get("e2e") or {}).get("cpu") or {}).get("cpu_seconds")) or {}
    stages = sum(v for k, v in cpu.items() if k.startswith(("poller", "normalizer", "writer", "kafka")))
    return ratio(stages, cpu.get("postgres")) if stages else None


def auth_overhead_pct(bench: Any) -> float | None:
    """The series' req/s lost to authentication (api_bench.py's auth_cost): the median over the concurrencies."""
    rows = (((bench or {}).get("results") or {}).get("auth_cost") or {}).get("overhead") or []
    values = sorted(row["overhead_pct"] for row in rows if row.get("overhead_pct") is not None)
    if not values:
        return None
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else round((values[middle - 1] + values[middle]) / 2, 1)


def _api_lines(label: str, bench: Any) -> list[str]:
    """The median rows of an API companion (api_bench.py, meters_bench.py): one line per scenario and c."""
    if not isinstance(bench, dict):
        return []
    if not isinstance(bench.get("results"), dict):
        return [f"  {label} bench{'':<{18 - len(label)}}{json.dumps(bench)[:300]}"]
    lines: list[str] = []
    for scenario, figures in bench["results"].items():
        for row in figures.get("median", []) if isinstance(figures, dict) else []:
            lines.append(
                f"  {label} {scenario:<9} c={row.get('concurrency', '-'):<3} {row.get('rps', '-')} req/s, "
                f"p50 {row.get('p50_ms', '-')} ms, p99 {row.get('p99_ms', '-')} ms, "
                f"errors {row.get('errors', '-')} (medians of {row.get('runs', '-')} runs)"
            )
        for row in figures.get("overhead", []) if isinstance(figures, dict) else []:
            lines.append(
                f"  {label} {scenario:<9} c={row.get('concurrency', '-'):<3} {row.get('rps_on', '-')} req/s with "
                f"authentication vs {row.get('rps_off', '-')} without: {row.get('overhead_pct', '-')} % fewer"
            )
        if isinstance(figures, dict) and "error" in figures:
            lines.append(f"  {label} {scenario:<9} {figures['error']}")
    return lines


def companion_lines(results: dict[str, Any]) -> list[str]:
    lines = _api_lines("API", results.get("api")) + _api_lines("meters", results.get("meters"))
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
