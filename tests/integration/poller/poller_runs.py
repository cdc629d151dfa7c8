"""What the poller's integration tests feed a run and read back: source documents (big ones generated while
they are read), the raw, DLQ and checkpoint topics decoded, and a run's exit code with its peak memory."""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from meterflow_contracts import (
    CHECKPOINTS,
    DLQ,
    RAW,
    Checkpoint,
    DeadLetter,
    RawBatch,
    SourcePosition,
    is_leader_generation_record,
)
from meterflow_harness.kafka import read_all
from meterflow_harness.processes import peak_rss
from pydantic import BaseModel

START = datetime(2023, 2, 1, tzinfo=UTC)
MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"


_TIMES_OF_DAY = [f"{q // 4:02d}:{q % 4 * 15:02d}:00.000Z" for q in range(96)]


def timestamp(index: int) -> str:
    """The interval start of record ``index``: 15-minute steps from START (fast: big objects need millions)."""
    day = (START + timedelta(days=index // 96)).date().isoformat()
    return f"{day}T{_TIMES_OF_DAY[index % 96]}"


def record(index: int, muid: str = MUID) -> dict[str, Any]:
    """A source record whose timestamp encodes its index in the object."""
    return {
        "measurement": "energy",
        "timestamp": timestamp(index),
        "tags": {"muid": muid, "quality": "measured"},
        "0100011D00FF": round(index * 0.0001, 4),
    }


def document(count: int, muid: str = MUID) -> bytes:
    return json.dumps({"data": [record(i, muid) for i in range(count)]}).encode()


class GeneratedDocument(io.RawIOBase):
    """A source document of ``count`` records produced while it is read: a big object never exists in
    the test's memory, whatever its size."""

    def __init__(self, count: int, block: int = 2_000) -> None:
        self.count = count
        self._parts = self._generate(block)
        self._pending = b""
        self.size = 0

    def _generate(self, block: int) -> Iterator[bytes]:
        # Records like record(i) (the value is the index), from a template: json.dumps per record is too slow.
        template = (
            '{"measurement": "energy", "timestamp": "%s", '
            f'"tags": {{"muid": "{MUID}", "quality": "measured"}}, "0100011D00FF": %d}}'
        )
        yield b'{"data": ['
        for first in range(0, self.count, block):
            last = min(first + block, self.count)
            text = ",".join(template % (timestamp(i), i) for i in range(first, last))
            yield (text if first == 0 else "," + text).encode()
        yield b"]}"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            part = next(self._parts, None)
            if part is None:
                return 0
            self._pending = part
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.size += n
        return n


async def raw_batches(kafka: str, topic: str) -> list[RawBatch]:
    return [RAW.deserialize(r.value) for r in await read_all(kafka, topic)]


class _Position(BaseModel):
    source: SourcePosition
    last_chunk: bool


async def raw_positions(kafka: str, topic: str) -> list[SourcePosition]:
    """The source positions of the raw topic's messages, without building their records (fast)."""
    return [_Position.model_validate_json(r.value).source for r in await read_all(kafka, topic)]


async def dead_letters(kafka: str, topic: str) -> list[DeadLetter]:
    return [DLQ.deserialize(r.value) for r in await read_all(kafka, topic)]


async def checkpoint_log(kafka: str, topic: str) -> list[tuple[str, Checkpoint | None]]:
    """Every checkpoint record in order: (bucket/key, checkpoint or None for a tombstone). The leader
    generation records that share the topic (meterflow_poller.fencing) are left out."""
    return [
        (r.key.decode(), None if r.value is None else CHECKPOINTS.deserialize(r.value))
        for r in await read_all(kafka, topic)
        if not is_leader_generation_record(r.key)
    ]


async def latest_checkpoints(kafka: str, topic: str) -> dict[str, Checkpoint]:
    latest: dict[str, Checkpoint] = {}
    for key, checkpoint in await checkpoint_log(kafka, topic):
        if checkpoint is None:
            latest.pop(key, None)
        else:
            latest[key] = checkpoint
    return latest


def covered_indices(batches: list[RawBatch], key: str) -> set[int]:
    """Record indices of ``key`` present on the raw topic, each checked against the record's content."""
    seen: set[int] = set()
    for batch in batches:
        if batch.source.key != key:
            continue
        assert batch.source.record_end - batch.source.record_start == len(batch.records)
        for offset, item in enumerate(batch.records):
            index = batch.source.record_start + offset
            assert item["timestamp"] == timestamp(index), f"record {index} of {key} is not where it belongs"
            seen.add(index)
    return seen


def wait_exit_measuring(process: subprocess.Popen[bytes], timeout: float) -> tuple[int, int]:
    """Wait for ``process`` to exit; returns (exit code, peak RSS in bytes).

    The peak is the kernel's high-water mark of the process's own memory (VmHWM), read every 20 ms until
    the process is gone: it only grows, so the last reading misses at most the last 20 ms. (ru_maxrss of
    wait4 would not do: Linux folds the parent's peak into it when the child execs after a vfork.)
    """
    deadline = time.monotonic() + timeout
    peak = 0
    while process.poll() is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"process {process.pid} did not exit within {timeout:.0f} s")
        peak = max(peak, peak_rss(process.pid) or 0)
        time.sleep(0.02)
    assert process.returncode is not None
    return process.returncode, peak
