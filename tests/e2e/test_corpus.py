"""The bad-input corpus (tests/corpus/) through the real poller, normalizer and writer: every good reading
lands exactly once, every bad record is in the DLQ with its reason, no service restarts or logs a crash, and
the objects listed after the bad ones still land. Expected outcomes: tests/corpus/manifest.json."""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from corpus.build_corpus import muid as corpus_muid
from corpus.generated import FleetDocument, generated_muid, huge_record_document, object_200mb
from meterflow_contracts import DLQ, DeadLetter
from meterflow_harness.kafka import GroupProbe, read_all
from meterflow_harness.pipeline import Pipeline
from meterflow_harness.waiting import eventually
from readings_io import count_rows

pytestmark = pytest.mark.e2e
CORPUS = Path(__file__).parents[1] / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
Reading = tuple[str, str, str, float]
# Lines a service writes only when something broke inside it (a traceback, faust's crashed agent).
# A dead letter's evidence of a record too large to send: its first 4 KiB as text, with room for the JSON around it.
EVIDENCE_MAX_BYTES = 8 * 1024
# How long both consumer groups stay caught up before the comparison goes on without the expected counts.
QUIET_S = 15
CRASH_MARKS = ("Traceback (most recent call last)", "crashed", "Agent crash")


def good_object(name: str) -> tuple[bytes, list[Reading]]:
    """A small valid object of a meter of its own, to place after the bad ones."""
    meter = str(uuid.uuid5(uuid.NAMESPACE_URL, f"meterflow-corpus/{name}"))
    records, readings = [], []
    for i in range(4):
        ts = f"2023-02-01T0{i}:00:00+00:00"
        records.append({"measurement": "energy", "timestamp": ts, "tags": {"muid": meter}, "0100011D00FF": i + 0.5})
        readings.append((meter, "1-0:1.29.0*255", ts, i + 0.5))
    return json.dumps({"data": records}).encode(), readings


async def table_of(dsn: str, meters: set[str]) -> Counter[Reading]:
    """The readings of ``meters``, each as often as the table holds it (so a duplicate shows)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT muid::text, obis, ts, value FROM readings WHERE muid = ANY($1::uuid[])", list(meters)
        )
    finally:
        await conn.close()
    return Counter((r["muid"], r["obis"], r["ts"].isoformat(), r["value"]) for r in rows)


async def dead_letters(pipeline: Pipeline) -> list[DeadLetter]:
    return [DLQ.deserialize(r.value or b"") for r in await read_all(pipeline.servers.kafka, pipeline.topics.dlq)]


def reasons_by_key(letters: list[DeadLetter]) -> dict[str, Counter[str]]:
    out: dict[str, Counter[str]] = {}
    for letter in letters:
        key = letter.source.key if letter.source is not None else "(no source)"
        out.setdefault(key, Counter())[str(letter.reason)] += 1
    return out


async def settle(pipeline: Pipeline, readings: int, letters: int, timeout: float) -> None:
    """Wait until the normalizer and the writer committed everything and the expected readings and dead
    letters came; or until they stayed caught up for QUIET_S without them (the assertions then say what
    is missing). The poll is over: once caught up, nothing more arrives."""
    alive = list(pipeline.services.values())
    kafka, suffix = pipeline.servers.kafka, pipeline.topics.suffix
    quiet_since: float | None = None
    async with (
        GroupProbe(kafka, f"normalizer{suffix}", pipeline.topics.raw) as raw,
        GroupProbe(kafka, f"writer{suffix}", pipeline.topics.readings) as written,
    ):

        async def done() -> bool:
            nonlocal quiet_since
            if not (await raw.caught_up() and await written.caught_up()):
                quiet_since = None
                return False
            if await count_rows(pipeline.dsn) >= readings and len(await dead_letters(pipeline)) >= letters:
                return True
            quiet_since = quiet_since or time.monotonic()
            return time.monotonic() - quiet_since > QUIET_S

        await eventually(done, timeout, "normalizer and writer to commit everything", interval=1, alive=alive)


def assert_no_restart_or_crash(pipeline: Pipeline, pids: dict[str, int]) -> None:
    for name, service in pipeline.services.items():
        service.assert_running()
        assert service.pid == pids[name], f"{name} was restarted"
        log = service.log_path.read_text(errors="replace")
        marks = [mark for mark in CRASH_MARKS if mark in log]
        assert not marks, f"{name} logged {marks}; log {service.log_path}:\n{service.tail()}"


def assert_dead_letters(letters: list[DeadLetter], expected: dict[str, Counter[str]]) -> None:
    actual = reasons_by_key(letters)
    wrong = {
        key: (dict(actual.get(key, Counter())), dict(expected.get(key, Counter())))
        for key in actual.keys() | expected.keys()
        if actual.get(key, Counter()) != expected.get(key, Counter())
    }
    assert not wrong, "dead letters per object differ (actual, expected):\n" + "\n".join(
        f"  {key}: {pair}" for key, pair in sorted(wrong.items())
    )


def assert_readings(actual: Counter[Reading], expected: list[Reading]) -> None:
    want = Counter(expected)
    duplicated = sorted(k for k, n in actual.items() if n > 1)
    missing = sorted(want.keys() - actual.keys())
    extra = sorted(actual.keys() - want.keys())
    assert not (duplicated or missing or extra), (
        f"{len(missing)} missing (e.g. {missing[:3]}), {len(extra)} unexpected (e.g. {extra[:3]}), "
        f"{len(duplicated)} stored more than once (e.g. {duplicated[:3]})"
    )


def manifest_readings(entry: dict[str, Any]) -> list[Reading]:
    return [(m, o, datetime.fromisoformat(ts).isoformat(), float(v)) for m, o, ts, v in entry["readings"]]


def file_meters(file: str) -> set[str]:
    """Every meter a corpus file may hold (build_corpus gives each file uuid5 meters of its name)."""
    name = file.removesuffix(".json").split("_", 1)[1]
    return {corpus_muid(name, index) for index in range(3)}


def outcome_differences(
    key: str,
    actual_rows: Counter[Reading],
    expected_rows: list[Reading],
    actual_letters: Counter[str],
    expected_letters: Counter[str],
) -> str | None:
    """What differs for one object, in one line; None when its outcome is the expected one."""
    want = Counter(expected_rows)
    missing = sorted(want.keys() - actual_rows.keys())
    extra = sorted(actual_rows.keys() - want.keys())
    doubled = sorted(k for k, n in actual_rows.items() if n > 1)
    problems = []
    if missing:
        problems.append(f"{len(missing)} readings missing (e.g. {missing[0][2:]})")
    if extra:
        problems.append(f"{len(extra)} unexpected (e.g. {extra[0][2:]})")
    if doubled:
        problems.append(f"{len(doubled)} stored twice")
    if actual_letters != expected_letters:
        problems.append(f"dead letters {dict(actual_letters)}, expected {dict(expected_letters)}")
    return f"{key}: " + "; ".join(problems) if problems else None


async def test_corpus_files_land_or_go_to_the_dlq_with_their_reason(pipeline: Pipeline, s3: Any) -> None:
    files = MANIFEST["files"]
    assert len(files) >= 50
    for entry in files:
        s3.put_object(
            Bucket=pipeline.bucket, Key=f"corpus/{entry['file']}", Body=(CORPUS / "files" / entry["file"]).read_bytes()
        )
    (huge,) = [g for g in MANIFEST["generated"] if g["generator"] == "huge_record"]
    s3.put_object(Bucket=pipeline.bucket, Key=huge["key"], Body=huge_record_document())
    # Listed after every bad object: nothing before it may hold it up.
    last_key = "corpus/zzz_after_everything.json"
    last_body, last_readings = good_object("after-everything")
    s3.put_object(Bucket=pipeline.bucket, Key=last_key, Body=last_body)
    pids = {name: service.pid for name, service in pipeline.services.items()}

    # Its exit code is one of the outcomes compared below, so that a failure lists every object that differs.
    code = pipeline.poller("--once").start().wait_exit(300)
    total = sum(len(e["readings"]) for e in files) + huge["readings_count"] + len(last_readings)
    letters_total = sum(len(e["dead_letters"]) for e in files) + len(huge["dead_letters"])
    await settle(pipeline, total, letters_total, timeout=300)

    all_letters = await dead_letters(pipeline)
    letters = reasons_by_key(all_letters)
    huge_meter = str(generated_muid("huge_record", 0))
    checks = [
        (f"corpus/{e['file']}", file_meters(e["file"]), manifest_readings(e), Counter(e["dead_letters"])) for e in files
    ]
    checks.append((last_key, {last_readings[0][0]}, last_readings, Counter()))
    differences = [] if code == 0 else [f"meterflow-poller --once exited with {code}"]
    for key, meters, expected_rows, expected_letters in checks:
        actual_rows = await table_of(pipeline.dsn, meters)
        difference = outcome_differences(key, actual_rows, expected_rows, letters.pop(key, Counter()), expected_letters)
        if difference:
            differences.append(difference)
    huge_rows = sum((await table_of(pipeline.dsn, {huge_meter})).values())
    huge_letters = letters.pop(huge["key"], Counter())
    if huge_rows != huge["readings_count"] or huge_letters != Counter(huge["dead_letters"]):
        differences.append(f"{huge['key']}: {huge_rows} readings, dead letters {dict(huge_letters)}")
    differences += [f"{key}: unexpected dead letters {dict(reasons)}" for key, reasons in letters.items()]
    # The evidence of a record too large for a message is cut (its first 4 KiB), or it could not be sent either.
    evidence = [len(json.dumps(d.record)) for d in all_letters if d.source is not None and d.source.key == huge["key"]]
    if any(size > EVIDENCE_MAX_BYTES for size in evidence):
        differences.append(f"{huge['key']}: evidence of {evidence} bytes, not cut to about 4 KiB")
    assert not differences, f"{len(differences)} of {len(checks) + 1} objects differ:\n" + "\n".join(differences)
    assert await count_rows(pipeline.dsn) == total
    assert_no_restart_or_crash(pipeline, pids)


async def test_a_200_mb_object_lands_whole_between_small_ones(pipeline: Pipeline, s3: Any) -> None:
    (big,) = [g for g in MANIFEST["generated"] if g["generator"] == "object_200mb"]
    first_body, first_readings = good_object("before-the-big-one")
    last_body, last_readings = good_object("after-the-big-one")
    s3.put_object(Bucket=pipeline.bucket, Key="corpus/100_before.json", Body=first_body)
    document: FleetDocument = object_200mb()
    s3.upload_fileobj(document, pipeline.bucket, big["key"])
    assert document.size >= 200_000_000
    s3.put_object(Bucket=pipeline.bucket, Key="corpus/900_after.json", Body=last_body)
    pids = {name: service.pid for name, service in pipeline.services.items()}

    pipeline.poll_once(timeout=900)
    total = big["readings_count"] + len(first_readings) + len(last_readings)
    assert document.meters * document.per_meter == big["readings_count"]
    await settle(pipeline, total, 0, timeout=900)

    small = first_readings + last_readings
    assert_readings(await table_of(pipeline.dsn, {r[0] for r in small}), small)
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        # Record i of a meter is at START + i x 15 min with the value i / 10,000: check every row by that.
        wrong = await conn.fetchval(
            "SELECT count(*) FROM readings WHERE obis = '1-0:1.29.0*255' AND muid = ANY($1::uuid[]) AND "
            "round(value * 10000)::bigint <> (extract(epoch FROM ts - '2023-02-01T00:00Z'::timestamptz) / 900)::bigint",
            [str(generated_muid("object_200mb", m)) for m in range(document.meters)],
        )
        per_meter = await conn.fetch(
            "SELECT count(*) AS n FROM readings WHERE muid = ANY($1::uuid[]) GROUP BY muid",
            [str(generated_muid("object_200mb", m)) for m in range(document.meters)],
        )
    finally:
        await conn.close()
    assert wrong == 0
    assert sorted(r["n"] for r in per_meter) == [document.per_meter] * document.meters
    assert await count_rows(pipeline.dsn) == total
    assert_dead_letters(await dead_letters(pipeline), {})
    assert_no_restart_or_crash(pipeline, pids)
