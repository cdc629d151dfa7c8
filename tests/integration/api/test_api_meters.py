"""GET /v1/meters from the channels table: keyset pages that list every meter exactly once, limit bounds,
cursors the API did not write, and answers that follow the channels table rather than the readings."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from meterflow_api.schemas import MetersResponse

pytestmark = pytest.mark.integration

IMPORT = "1-0:1.29.0*255"
EXPORT = "1-0:2.29.0*255"
START = datetime(2023, 5, 1, tzinfo=UTC)
STEP = timedelta(minutes=15)
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
Inserter = Callable[[str, list[Any]], Awaitable[None]]

# 23 meters: every third has an export channel too; each channel a few readings (count = 3 + index % 4).
MUIDS = sorted(uuid.UUID(int=(index * 7919) << 64 | index) for index in range(1, 24))


def rows() -> list[tuple[uuid.UUID, str, datetime, float, str]]:
    out = []
    for index, muid in enumerate(MUIDS):
        codes = [IMPORT, EXPORT] if index % 3 == 0 else [IMPORT]
        for code in codes:
            out += [(muid, code, START + i * STEP, 0.25 * i, "measured") for i in range(3 + index % 4)]
    return out


ROWS = rows()


@pytest.fixture(scope="module")
async def api(database: str, client_factory: ClientFactory, insert_rows: Inserter) -> httpx.AsyncClient:
    await insert_rows(database, ROWS)
    return await client_factory(database)


def expected_channels() -> dict[str, list[tuple[str, int]]]:
    """Per meter, (obis, readings) of each channel in obis order, counted from the rows loaded."""
    counts: dict[tuple[uuid.UUID, str], int] = {}
    for muid, code, *_ in ROWS:
        counts[(muid, code)] = counts.get((muid, code), 0) + 1
    out: dict[str, list[tuple[str, int]]] = {}
    for (muid, code), count in sorted(counts.items()):
        out.setdefault(str(muid), []).append((code, count))
    return out


async def walk(api: httpx.AsyncClient, limit: int) -> list[dict[str, Any]]:
    """Every page of /v1/meters at ``limit``, following next_cursor; the pages as answered."""
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": limit}
    while True:
        response = await api.get("/v1/meters", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        MetersResponse.model_validate(body)
        pages.append(body)
        if body["next_cursor"] is None:
            return pages
        params = {"limit": limit, "cursor": body["next_cursor"]}


@pytest.mark.parametrize("limit", [1, 5, 7, 23, 1000])
async def test_pages_list_every_meter_exactly_once(api: httpx.AsyncClient, limit: int) -> None:
    pages = await walk(api, limit)
    assert len(pages) == -(-len(MUIDS) // limit)
    assert all(len(page["meters"]) == limit for page in pages[:-1]) and 1 <= len(pages[-1]["meters"]) <= limit
    listed = [meter for page in pages for meter in page["meters"]]
    assert [meter["muid"] for meter in listed] == [str(muid) for muid in MUIDS]
    channels = {meter["muid"]: [(c["obis"], c["count"]) for c in meter["channels"]] for meter in listed}
    assert channels == expected_channels()


async def test_default_page_and_csv_pages(api: httpx.AsyncClient) -> None:
    body = (await api.get("/v1/meters")).json()
    assert len(body["meters"]) == len(MUIDS) and body["next_cursor"] is None
    seen: list[tuple[str, str]] = []
    params: dict[str, Any] = {"format": "csv", "limit": 4}
    while True:
        response = await api.get("/v1/meters", params=params)
        assert response.status_code == 200, response.text
        seen += [(row["muid"], row["obis"]) for row in csv.DictReader(io.StringIO(response.text))]
        if "X-Next-Cursor" not in response.headers:
            break
        params["cursor"] = response.headers["X-Next-Cursor"]
    assert seen == [(muid, code) for muid, channels in expected_channels().items() for code, _ in channels]


@pytest.mark.parametrize("limit", ["0", "-1", "1001", "abc"])
async def test_limit_out_of_bounds_is_422(api: httpx.AsyncClient, limit: str) -> None:
    response = await api.get("/v1/meters", params={"limit": limit})
    assert response.status_code == 422, response.text
    assert [problem["loc"] for problem in response.json()["detail"]] == [["query", "limit"]]


async def test_limit_at_the_bounds(api: httpx.AsyncClient) -> None:
    assert len((await api.get("/v1/meters", params={"limit": 1})).json()["meters"]) == 1
    assert len((await api.get("/v1/meters", params={"limit": 1000})).json()["meters"]) == len(MUIDS)


@pytest.mark.parametrize(
    "cursor",
    [
        "abc",
        "",
        "MjAyMy0wMi0wMVQwMDozMDowMC4wMDAwMDArMDA6MDA",  # a /readings cursor
        "lc4zZ8vOSk2749oIKDHXvQ!",  # a valid one with a stray character
        "lc4zZ8vOSk2749oIKDHX",  # cut short
    ],
)
async def test_bad_cursor_is_422_and_says_what_to_do(api: httpx.AsyncClient, cursor: str) -> None:
    response = await api.get("/v1/meters", params={"cursor": cursor})
    assert response.status_code == 422, response.text
    [problem] = response.json()["detail"]
    assert problem["loc"] == ["query", "cursor"]
    assert "next_cursor of the previous page unchanged" in problem["msg"]


async def test_meters_reflect_the_channels_table(api: httpx.AsyncClient, database: str) -> None:
    """What the listing says comes from the channels table: a row there shows as it is, readings or not."""
    ghost = uuid.UUID(int=(1 << 128) - 1)  # after every generated meter
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(
            "INSERT INTO channels (muid, obis, quantity, direction, unit, measurement, interval_s, first_ts, last_ts,"
            " readings) VALUES ($1, $2, 'active_power', 'import', 'kW', 'power', 900, $3, $4, 12345)",
            ghost,
            "1-0:1.7.0*255",
            START,
            START + STEP,
        )
        body = (await api.get("/v1/meters", params={"limit": 1000})).json()
        assert body["meters"][-1] == {
            "muid": str(ghost),
            "channels": [
                {
                    "obis": "1-0:1.7.0*255",
                    "hex": "0100010700FF",
                    "quantity": "active_power",
                    "direction": "import",
                    "unit": "kW",
                    "first": START.isoformat(),
                    "last": (START + STEP).isoformat(),
                    "count": 12345,
                }
            ],
        }
        await conn.execute("UPDATE channels SET readings = 7 WHERE muid = $1", ghost)
        body = (await api.get("/v1/meters", params={"limit": 1000})).json()
        assert body["meters"][-1]["channels"][0]["count"] == 7
    finally:
        await conn.execute("DELETE FROM channels WHERE muid = $1", ghost)
        await conn.close()
    body = (await api.get("/v1/meters", params={"limit": 1000})).json()
    assert [meter["muid"] for meter in body["meters"]] == [str(muid) for muid in MUIDS]
