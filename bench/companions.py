"""The companion benchmarks (bench/api_bench.py, bench/writer_bench.py) run by ``bench/run.py`` as scripts
of their own: the endpoints passed as the options each one lists, its JSON summary and its peak RSS."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from meterflow_harness.paths import REPO
from meterflow_harness.servers import Servers

from bench.measuring import RssSampler
from bench.progress import log

BENCH = REPO / "bench"


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
