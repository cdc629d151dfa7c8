"""The whole pipeline with every component a real server: S3 (moto) -> poller -> Kafka -> normalizer
-> writer -> PostgreSQL -> query API over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from channel_truth import assert_channels_match_readings
from meterflow_cli.demo import EXPORT_HEX, IMPORT_HEX, households, readings_count, records
from meterflow_cli.demo_cmd import render
from meterflow_harness.api_keys import admin_key, auth_headers
from meterflow_harness.metrics import metric_value
from meterflow_harness.pipeline import Pipeline
from readings_io import count_rows
from real_data import REAL_FILES, SHARED_DATA

pytestmark = pytest.mark.e2e
IMPORT_MUID = "95ce3367-cbce-4a4d-bbe3-da082831d7bd"
EXPORT_MUID = "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
FEBRUARY = {"start": "2023-02-01T00:00:00Z", "end": "2023-03-01T00:00:00Z", "tz": "UTC"}
needs_real_data = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"the real data folder {SHARED_DATA} is absent (set MF_SHARED_DATA)"
)


async def wait_for_rows(dsn: str, expected: int, pipeline: Pipeline, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    count = -1
    while time.monotonic() < deadline:
        pipeline.assert_running()
        count = await count_rows(dsn)
        if count >= expected:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"{count} of {expected} readings arrived within {timeout} s")


async def wait_for_writer_rows(pipeline: Pipeline, rows: float, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if metric_value(pipeline.services["writer"].metrics(), "meterflow_writer_rows_total") >= rows:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the writer did not load {rows} rows within {timeout} s")


async def api_client(pipeline: Pipeline) -> httpx.AsyncClient:
    """A client of the pipeline's API with a key that reads every tenant, made in the pipeline's database."""
    headers = auth_headers(await admin_key(pipeline.dsn))
    return httpx.AsyncClient(base_url=pipeline.api_url, timeout=30, headers=headers)


async def series(client: httpx.AsyncClient, muid: str, **params: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/meters/{muid}/series", params={**FEBRUARY, **params})
    assert response.status_code == 200, response.text
    points: list[dict[str, Any]] = response.json()["points"]
    return points


def exact_sum(values: list[float]) -> Decimal:
    return sum((Decimal(repr(v)) for v in values), Decimal(0))


async def assert_february_facts(client: httpx.AsyncClient) -> None:
    """The facts of shared/data/exnaton-2023-02/README.md, through the HTTP API."""
    facts = {
        IMPORT_MUID: {"total": 97.6082, "max": 0.9612, "max_at": "2023-02-20T15:00:00", "day1": 1.8766},
        EXPORT_MUID: {"total": 36.19725, "max": 0.17325, "max_at": "2023-02-21T12:00:00", "day1": 2.07875},
    }
    for muid, fact in facts.items():
        (month,) = await series(client, muid, interval="1mo", agg="sum")
        assert month["value"] == pytest.approx(fact["total"], abs=1e-6)
        assert month["count"] == 2688
        (peak,) = await series(client, muid, interval="1mo", agg="max")
        assert peak["value"] == pytest.approx(fact["max"], abs=1e-6)
        days = await series(client, muid, interval="1d", agg="sum")
        assert len(days) == 28
        assert days[0]["start"].startswith("2023-02-01T00:00:00")
        assert days[0]["value"] == pytest.approx(fact["day1"], abs=1e-6)
        stats = (await client.get(f"/v1/meters/{muid}/stats", params=FEBRUARY)).json()
        assert stats["max"]["value"] == pytest.approx(fact["max"], abs=1e-6)
        assert str(stats["max"]["at"]).startswith(str(fact["max_at"]))
        assert stats["total"] == pytest.approx(fact["total"], abs=1e-6)


@needs_real_data
async def test_real_files_end_to_end_and_reupload_changes_nothing(pipeline: Pipeline, s3: Any) -> None:
    for muid in REAL_FILES:
        s3.upload_file(str(SHARED_DATA / f"{muid}.json"), pipeline.bucket, f"challenge/{muid}.json")
    pipeline.poll_once()
    await wait_for_rows(pipeline.dsn, 2 * 2688, pipeline)

    async with await api_client(pipeline) as client:
        meters = (await client.get("/v1/meters")).json()["meters"]
        channels = {m["muid"]: m["channels"] for m in meters}
        assert set(channels) == set(REAL_FILES)
        assert [c["hex"] for c in channels[EXPORT_MUID]] == ["0100021D00FF"]
        assert channels[EXPORT_MUID][0]["direction"] == "export"
        assert channels[IMPORT_MUID][0]["count"] == 2688
        await assert_february_facts(client)

        # The same files again, under their own keys (unchanged: skipped) and under new keys
        # (published again): the table must not change.
        for muid in REAL_FILES:
            s3.upload_file(str(SHARED_DATA / f"{muid}.json"), pipeline.bucket, f"challenge/{muid}.json")
            s3.upload_file(str(SHARED_DATA / f"{muid}.json"), pipeline.bucket, f"replay/{muid}.json")
        pipeline.poll_once()
        await wait_for_writer_rows(pipeline, 4 * 2688)
        await assert_february_facts(client)
    # The normalizer's metadata as the writer stored it: what decoding the readings' OBIS codes gives.
    assert [c[9] for c in await assert_channels_match_readings(pipeline.dsn)] == [2688, 2688]

    conn = await asyncpg.connect(pipeline.dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM readings") == 2 * 2688
        changed = metric_value(pipeline.services["writer"].metrics(), "meterflow_writer_rows_changed_total")
        assert changed == 0
        # Values are stored exactly as delivered: compare every one with the file.
        for muid, obis_hex in REAL_FILES.items():
            source = json.loads((SHARED_DATA / f"{muid}.json").read_bytes())["data"]
            expected = {datetime.fromisoformat(r["timestamp"]): float(r[obis_hex]) for r in source}
            rows = await conn.fetch("SELECT ts, value FROM readings WHERE muid = $1", muid)
            assert {r["ts"]: r["value"] for r in rows} == expected
            assert exact_sum([r["value"] for r in rows]).quantize(Decimal("0.00001")) == Decimal(
                "97.60820" if obis_hex == "0100011D00FF" else "36.19725"
            )
    finally:
        await conn.close()


async def test_generated_demo_data_arrives_exactly_once(pipeline: Pipeline, s3: Any) -> None:
    start, days, seed = date(2023, 3, 20), 3, 7
    fleet = households(6, seed, pv_share=0.5)
    for house in fleet:
        s3.put_object(Bucket=pipeline.bucket, Key=f"demo/{house.muid}.json", Body=render(house, start, days, seed))
    expected_count = sum(readings_count(h, days) for h in fleet)
    pipeline.poll_once()
    await wait_for_rows(pipeline.dsn, expected_count, pipeline)

    expected: dict[tuple[str, str, datetime], float] = {}
    obis_of = {IMPORT_HEX: "1-0:1.29.0*255", EXPORT_HEX: "1-0:2.29.0*255"}
    for house in fleet:
        for record in records(house, start, days, seed):
            ts = datetime.fromisoformat(str(record["timestamp"])).astimezone(UTC)
            for hex_code, obis in obis_of.items():
                if hex_code in record:
                    expected[(str(house.muid), obis, ts)] = float(record[hex_code])  # type: ignore[arg-type]
    conn = await asyncpg.connect(pipeline.dsn)
    try:
        rows = await conn.fetch("SELECT muid::text, obis, ts, value FROM readings")
    finally:
        await conn.close()
    assert len(rows) == expected_count == len(expected)
    assert {(r["muid"], r["obis"], r["ts"]): r["value"] for r in rows} == expected

    async with await api_client(pipeline) as client:
        meters = (await client.get("/v1/meters")).json()["meters"]
        assert len(meters) == len(fleet)
        two_channel = [m for m in meters if len(m["channels"]) == 2]
        assert len(two_channel) == sum(h.has_pv for h in fleet)
