"""The on-call's CLI against a running pipeline: `meterflow status` reads every service's ops endpoint;
`meterflow dlq list|show|replay|purge` work on the pipeline's dead-letter topic: a poisoned object's dead
letter is listed and shown with its source position and trace id, its replay makes the poller read the object
again (with an audit line), and purge empties the topic. And one object's trace id is in every stage's log."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from meterflow_cli.demo import households
from meterflow_cli.demo_cmd import render
from meterflow_cli.main import build_parser
from meterflow_contracts import DLQ
from meterflow_contracts.topics import checkpoint_key
from meterflow_harness.kafka import read_all
from meterflow_harness.pipeline import Pipeline, Topics
from meterflow_harness.waiting import wait_until
from meterflow_kit.tracing import trace_id, trace_id_in

pytestmark = pytest.mark.e2e

POISON = "bad/poison.json"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    args = build_parser().parse_args(list(argv))  # not cli(): its logging set-up would outlive capsys
    code: int = args.func(args)
    return code, capsys.readouterr().out


def dead_letters(pipeline: Pipeline) -> list[Any]:
    return [DLQ.deserialize(r.value or b"") for r in asyncio.run(read_all(pipeline.servers.kafka, pipeline.topics.dlq))]


def test_status_shows_each_service(pipeline: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    urls = [arg for name, service in pipeline.services.items() for arg in (f"--{name}", service.ops_url or "")]
    code, out = run(capsys, "status", "--json", "--poller", "http://127.0.0.1:1", *urls)
    rows = {row["service"]: row for row in json.loads(out)}
    assert code == 1  # the poller is not running here
    assert rows["poller"]["state"] == "down"
    assert {rows[name]["state"] for name in ("normalizer", "writer", "api")} == {"ready"}
    assert "time lag" in rows["writer"]["detail"] and "silent meters" in rows["writer"]["detail"]
    assert "requests" in rows["api"]["detail"]


def test_dead_letters_are_listed_shown_replayed_with_an_audit_line_and_purged(
    pipeline: Pipeline, topics: Topics, s3: Any, bucket: str, database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.put_object(Bucket=bucket, Key=POISON, Body=b"{not json")
    pipeline.poll_once()
    assert [d.reason.value for d in dead_letters(pipeline)] == ["invalid_json"]
    kafka = ["--bootstrap", pipeline.servers.kafka, "--topic", topics.dlq]

    code, out = run(capsys, "dlq", "list", *kafka, "--stage", "poller")
    assert code == 0
    (listed,) = [line for line in out.splitlines() if not line.startswith("#")]
    position, _, stage, reason, source, trace, _ = listed.split("\t")
    assert trace == trace_id(bucket, POISON, s3.head_object(Bucket=bucket, Key=POISON)["ETag"].strip('"'))
    assert (stage, reason, source.split(" ")[0]) == ("poller", "invalid_json", f"s3://{bucket}/{POISON}")
    assert run(capsys, "dlq", "list", *kafka, "--reason", "invalid_obis")[1].endswith("# 0 dead letters\n")

    code, out = run(capsys, "dlq", "show", *kafka, position)
    shown = json.loads(out)
    assert (code, shown["reason"], shown["source"]["key"], shown["trace_id"]) == (0, "invalid_json", POISON, trace)
    assert shown["record"]["key"] == POISON  # the poller's evidence: where in the object it failed

    code, out = run(
        capsys, "dlq", "replay", *kafka, "--reason", "invalid_json", "--checkpoint-topic", topics.checkpoints,
        "--database-url", database, "--actor", "on-call",
    )  # fmt: skip
    assert code == 0 and f"s3://{bucket}/{POISON}" in out
    checkpoints = asyncio.run(read_all(pipeline.servers.kafka, topics.checkpoints))
    last = [r for r in checkpoints if r.key == checkpoint_key(bucket, POISON).encode()][-1]
    assert last.value is None  # tombstoned: the next poll reads the object again
    pipeline.poll_once()
    assert [d.reason.value for d in dead_letters(pipeline)] == ["invalid_json", "invalid_json"]
    assert asyncio.run(audit_lines(database)) == [("on-call", "dlq.replay", f"s3://{bucket}/{POISON}")]

    future = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert run(capsys, "dlq", "purge", *kafka, "--before", future)[0] == 0
    assert run(capsys, "dlq", "list", *kafka)[1].endswith("# 0 dead letters\n")


async def audit_lines(dsn: str) -> list[tuple[str, str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT actor, action, subject FROM audit_log ORDER BY id")
    finally:
        await conn.close()
    return [(r["actor"], r["action"], r["subject"]) for r in rows]


def test_one_trace_id_follows_an_object_through_every_stage_log(
    pipeline: Pipeline, s3: Any, bucket: str, log_dir: Path
) -> None:
    (house,) = households(1, 7)
    s3.put_object(Bucket=bucket, Key="ok/traced.json", Body=render(house, date(2026, 1, 1), 1, 7))
    trace = trace_id(bucket, "ok/traced.json", s3.head_object(Bucket=bucket, Key="ok/traced.json")["ETag"].strip('"'))
    pipeline.poll_once()
    wait_until(lambda: pipeline.sum_metric("writer", "meterflow_writer_rows_total") >= 96, 90, "the readings")
    for stage in ("poller", "normalizer", "writer"):
        assert trace in (log_dir / f"{stage}.log").read_text(), f"trace {trace} not in the {stage} log"
    (record,) = asyncio.run(read_all(pipeline.servers.kafka, pipeline.topics.raw))
    assert trace_id_in(record.headers) == trace  # the header a tracing tool reads
