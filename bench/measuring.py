"""What a benchmark run measures besides time: the peak RSS of processes (sampled in a thread), the CPU
seconds of process trees and of the machine, the Kafka broker's heap, and profiles of services (py-spy attached
to them, pyinstrument sessions rendered) with their summaries."""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import psutil
from meterflow_harness.paths import REPO

SAMPLE_SECONDS = 0.2
LINE = re.compile(r":\d+\)$")


def kafka_pid() -> int | None:
    """The local broker's pid (from infra/kafka/kafka.sh's pid file), if it runs here."""
    pid_file = REPO / ".local" / "kafka" / "kafka.pid"
    try:
        pid = int(pid_file.read_text().strip())
        if "kafka.Kafka" in " ".join(psutil.Process(pid).cmdline()):
            return pid
    except (OSError, ValueError, psutil.Error):
        pass
    return None


class RssSampler:
    """Peak RSS (process plus children) of named processes, sampled every SAMPLE_SECONDS in a thread.

    The process objects are kept and their children looked up again only every CHILDREN_EVERY samples:
    finding children scans every process of the machine, which on two cores would steal CPU from the
    pipeline being measured.
    """

    CHILDREN_EVERY = 10

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        self.interval = interval
        self.pids: dict[str, int] = {}
        self.peak_bytes: dict[str, int] = {}
        self.samples = 0
        self._trees: dict[str, list[psutil.Process]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, name: str, pid: int) -> None:
        self.pids[name] = pid

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return self.peaks_mb()

    def peaks_mb(self) -> dict[str, float]:
        return {name: round(value / 2**20, 1) for name, value in sorted(self.peak_bytes.items())}

    def _tree(self, name: str, pid: int) -> list[psutil.Process]:
        tree = self._trees.get(name)
        if not tree or tree[0].pid != pid or self.samples % self.CHILDREN_EVERY == 0:
            try:
                root = tree[0] if tree and tree[0].pid == pid else psutil.Process(pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                tree = []
            self._trees[name] = tree
        return tree

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pid in list(self.pids.items()):
                rss = 0
                for process in self._tree(name, pid):
                    with contextlib.suppress(psutil.Error):
                        rss += process.memory_info().rss
                if rss > self.peak_bytes.get(name, 0):
                    self.peak_bytes[name] = rss
            self.samples += 1
            self._stop.wait(self.interval)


def kafka_heap(pid: int | None) -> dict[str, Any]:
    """The broker's configured heap (-Xmx/-Xms from its command line) and, via jstat, the heap now."""
    if pid is None:
        return {"pid": None, "note": "the broker does not run from infra/kafka/kafka.sh here: not measured"}
    cmdline = psutil.Process(pid).cmdline()
    info: dict[str, Any] = {
        "pid": pid,
        "xmx": next((a.removeprefix("-Xmx") for a in cmdline if a.startswith("-Xmx")), None),
        "xms": next((a.removeprefix("-Xms") for a in cmdline if a.startswith("-Xms")), None),
    }
    try:
        out = subprocess.run(["jstat", "-gc", str(pid)], capture_output=True, text=True, timeout=30).stdout
        header, values = out.strip().splitlines()[:2]
        gc = dict(zip(header.split(), (float(v) for v in values.split()), strict=False))
        used = sum(gc.get(k, 0.0) for k in ("S0U", "S1U", "EU", "OU"))
        capacity = sum(gc.get(k, 0.0) for k in ("S0C", "S1C", "EC", "OC"))
        info.update(heap_used_mb=round(used / 1024, 1), heap_committed_mb=round(capacity / 1024, 1))
    except (OSError, ValueError, subprocess.SubprocessError) as error:
        info["jstat_error"] = repr(error)
    return info


def server_pids() -> dict[str, int]:
    """Pids of the local Kafka broker, moto and PostgreSQL's postmaster, where they run here."""
    pids: dict[str, int] = {}
    if (kafka := kafka_pid()) is not None:
        pids["kafka"] = kafka
    with contextlib.suppress(OSError, ValueError):
        pids["s3"] = int((REPO / ".local" / "s3" / "moto.pid").read_text().strip())
    for process in psutil.process_iter(["name", "ppid"]):
        with contextlib.suppress(psutil.Error):
            if process.info["name"] == "postgres" and psutil.Process(process.info["ppid"]).name() != "postgres":
                pids["postgres"] = process.pid
                break
    return pids


def tree_cpu_seconds(pid: int, tree: bool = True) -> float:
    """CPU seconds of a process, its reaped children (PostgreSQL's ended backends) and its live ones."""
    try:
        process = psutil.Process(pid)
        times = process.cpu_times()
        if not tree:
            return float(times.user + times.system)
        total = times.user + times.system + times.children_user + times.children_system
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child_times = child.cpu_times()
                total += child_times.user + child_times.system
        return float(total)
    except psutil.Error:
        return 0.0


class CpuMeter:
    """CPU seconds each named process tree, and the whole machine, spent between start and stop."""

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.before: dict[str, float] = {}
        self.births: dict[str, float | None] = {}
        self.machine_before = psutil.cpu_times()
        self.wall_before = time.perf_counter()

    @staticmethod
    def seconds(name: str, pid: int) -> float:
        # The benchmark's own process only: the services (and profilers) it started are its children.
        return tree_cpu_seconds(pid, tree=name != "bench")

    @staticmethod
    def born(pid: int) -> float | None:
        try:
            return float(psutil.Process(pid).create_time())
        except psutil.Error:
            return None

    def start(self) -> CpuMeter:
        self.births = {name: self.born(pid) for name, pid in self.pids.items()}
        self.before = {name: self.seconds(name, pid) for name, pid in self.pids.items()}
        self.machine_before = psutil.cpu_times()
        self.wall_before = time.perf_counter()
        return self

    def stop(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall_before
        after = psutil.cpu_times()
        idle = (after.idle - self.machine_before.idle) + (after.iowait - self.machine_before.iowait)
        total = sum(after) - sum(self.machine_before)
        used: dict[str, float] = {}
        # A server restarted during the load (tests of colleagues do that on a shared machine): not counted.
        restarted = [name for name, pid in self.pids.items() if self.born(pid) != self.births[name]]
        for name, pid in self.pids.items():
            if name not in restarted:
                used[name] = round(self.seconds(name, pid) - self.before[name], 2)
        busy = total - idle
        return {
            "wall_seconds": round(wall, 2),
            "cpu_seconds": used,
            "restarted_during_load": restarted,
            "machine_busy_cpu_seconds": round(busy, 2),
            # Busy CPU not spent by the pipeline, its servers or the benchmark: other work on a shared machine.
            "other_cpu_seconds": round(busy - sum(used.values()), 2),
        }


class PySpy:
    """``py-spy record`` attached to each profiled service for the duration of the load."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def attach(self, name: str, pid: int) -> None:
        out = self.out_dir / f"{name}.pyspy.txt"
        argv = ["uv", "run", "--frozen", "--with", "py-spy", "py-spy", "record", "--pid", str(pid)]
        argv += ["--format", "raw", "--output", str(out), "--rate", "100", "--threads", "--gil"]
        log_file = (self.out_dir / f"{name}.pyspy.log").open("wb")
        self.processes[name] = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO)
        log_file.close()

    def detach(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()


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
