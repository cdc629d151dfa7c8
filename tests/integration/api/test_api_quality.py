"""GET /v1/quality: per meter coverage, gaps, last reading and silent flag from the channels table; the
silent filter, keyset pages, limit bounds, and the tenant scoping of its one query."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from meterflow_api.db import Database
from meterflow_api.schemas import QualityResponse

pytestmark = pytest.mark.integration

IMPORT = "1-0:1.29.0*255"
EXPORT = "1-0:2.29.0*255"
STEP = timedelta(minutes=15)
NOW = datetime.now(UTC).replace(second=0, microsecond=0)
RECENT = NOW - timedelta(minutes=NOW.minute % 15)  # the last reading of a reporting channel: under 15 min ago
LONG_AGO = RECENT - timedelta(days=2)
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]

REPORTING = uuid.UUID(int=1)  # 9 intervals, one of them missing: 8 readings
SILENT = uuid.UUID(int=2)  # 4 complete intervals two days ago
HALF = uuid.UUID(int=3)  # one channel reporting, one silent: the meter is not silent


def series(muid: uuid.UUID, obis: str, last: datetime, steps: int, skip: int | None = None) -> list[Any]:
    return [
        (muid, obis, last - i * STEP, 0.25, "measured") for i in range(steps) if i != skip
    ]  # fmt: skip


ROWS = (
    series(REPORTING, IMPORT, RECENT, 9, skip=4)
    + series(SILENT, IMPORT, LONG_AGO, 4)
    + series(HALF, IMPORT, RECENT, 3)
    + series(HALF, EXPORT, LONG_AGO, 3)
)


@pytest.fixture(scope="module")
async def api(database: str, client_factory: ClientFactory, insert_rows: Inserter) -> httpx.AsyncClient:
    await insert_rows(database, ROWS)
    return await client_factory(database)


async def quality(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get("/v1/quality", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    QualityResponse.model_validate(body)
    return body


async def test_each_meter_has_its_coverage_gaps_last_reading_and_silent_flag(api: httpx.AsyncClient) -> None:
    meters = {m["muid"]: m for m in (await quality(api))["meters"]}
    assert list(meters) == [str(REPORTING), str(SILENT), str(HALF)]
    reporting = meters[str(REPORTING)]
    assert (reporting["expected"], reporting["missing"], reporting["silent"]) == (9, 1, False)
    assert reporting["coverage"] == pytest.approx(8 / 9)
    assert datetime.fromisoformat(reporting["last_reading"]) == RECENT
    (channel,) = reporting["channels"]
    assert channel | {"coverage": None} == {
        "obis": IMPORT,
        "hex": "0100011D00FF",
        "interval_s": 900,
        "first": (RECENT - 8 * STEP).isoformat(),
        "last": RECENT.isoformat(),
        "count": 8,
        "expected": 9,
        "missing": 1,
        "coverage": None,
        "silent": False,
    }
    silent = meters[str(SILENT)]
    assert (silent["expected"], silent["missing"], silent["coverage"], silent["silent"]) == (4, 0, 1.0, True)
    half = meters[str(HALF)]
    assert half["silent"] is False
    assert [c["silent"] for c in half["channels"]] == [False, True]  # import reports, export is silent
    assert datetime.fromisoformat(half["last_reading"]) == RECENT


async def test_the_silent_filter_keeps_only_silent_or_only_reporting_meters(api: httpx.AsyncClient) -> None:
    assert [m["muid"] for m in (await quality(api, silent="true"))["meters"]] == [str(SILENT)]
    assert [m["muid"] for m in (await quality(api, silent="false"))["meters"]] == [str(REPORTING), str(HALF)]


async def test_pages_list_every_meter_once(api: httpx.AsyncClient) -> None:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page = await quality(api, limit=1, **({"cursor": cursor} if cursor else {}))
        seen += [m["muid"] for m in page["meters"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [str(REPORTING), str(SILENT), str(HALF)]


@pytest.mark.parametrize("params", [{"limit": 0}, {"cursor": "not a cursor!"}, {"silent": "maybe"}])
async def test_bad_parameters_are_refused_with_422(api: httpx.AsyncClient, params: dict[str, Any]) -> None:
    response = await api.get("/v1/quality", params=params)
    assert response.status_code == 422, response.text
    assert "detail" in response.json()


async def test_a_tenant_sees_only_its_meters(api: httpx.AsyncClient, database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("INSERT INTO tenants (name) VALUES ('acme'), ('other') ON CONFLICT DO NOTHING")
        await conn.execute(
            "INSERT INTO meter_tenants (muid, tenant, assigned_by) VALUES ($1, 'acme', 'test'), ($2, 'other', 'test')"
            " ON CONFLICT DO NOTHING",
            SILENT,
            HALF,
        )
    finally:
        await conn.close()
    db = await Database.connect(
        database, min_size=0, max_size=1, acquire_timeout=10, statement_timeout_ms=0, statement_cache_size=0
    )
    try:
        async with db.session() as session:
            acme = await session.quality(10, None, None, "acme")
            everyone = await session.quality(10, None, None, None)
            nobody = await session.quality(10, None, None, "unknown")
    finally:
        await db.close()
    assert {row.muid for row in acme} == {str(SILENT)}
    assert {row.muid for row in everyone} == {str(REPORTING), str(SILENT), str(HALF)}
    assert nobody == []
