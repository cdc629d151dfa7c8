"""The query API on TimescaleDB (the PGlite conformance server): the raw-row SQL over a hypertable, and series
summed from the readings_hourly continuous aggregate (partly materialized, partly real-time), both equal to
aggregating the raw rows.

The test starts a PGlite server of its own, or uses MF_TIMESCALE_DSN (e.g.
postgresql://postgres@127.0.0.1:5433/postgres after ``infra/timescale/pglite.sh start``).
The server has one database and serves one connection at a time, so the test uses meter ids of its
own, a pool of one connection, and deletes its rows afterwards.
PGlite keeps one backend session for all clients and, once TimescaleDB is created, later clients find
search_path = pg_catalog: the test sets it explicitly on each of its connections (API_SEARCH_PATH for the app).
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest
from integration.api.api_metrics import series_source_counts
from meterflow_schema import migrate, refresh_channels
from pglite import pglite_server

pytestmark = [pytest.mark.integration, pytest.mark.conformance]

# Not MF_PGLITE_DSN: the conformance suite expects that server fresh, and this test migrates and writes.
DSN = os.environ.get("MF_TIMESCALE_DSN")
MUID = uuid.uuid4()
OBIS = "1-0:1.29.0*255"
ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]


def rows() -> list[tuple[uuid.UUID, str, datetime, float, str]]:
    start = datetime(2023, 3, 20, tzinfo=UTC)
    out = []
    for index in range(14 * 96):
        ts = start + index * timedelta(minutes=15)
        if datetime(2023, 3, 29, tzinfo=UTC) <= ts < datetime(2023, 3, 30, tzinfo=UTC):
            continue  # a missing day
        out.append((MUID, OBIS, ts, round(0.01 + (index % 37) * 0.0025, 5), "measured"))
    return out


ROWS = rows()


@pytest.fixture(scope="module")
async def timescale() -> AsyncIterator[str]:
    if DSN:
        async for dsn in loaded(DSN):
            yield dsn
        return
    with pglite_server("api") as own:
        async for dsn in loaded(own):
            yield dsn


async def loaded(dsn: str) -> AsyncIterator[str]:
    """Migrate (on a fresh server only) and load the fixture rows; remove them afterwards."""
    conn = await connect(dsn)
    fresh = await conn.fetchval("SELECT to_regclass('public.readings') IS NULL")
    await conn.close()  # one connection at a time: migrate() opens its own
    if fresh:
        # migrate() is idempotent, but on a PGlite session whose search_path went to pg_catalog it cannot see
        # schema_migrations: run it only on a server without the schema.
        await migrate(dsn)
    conn = await connect(dsn)
    try:
        if not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"):
            pytest.skip(f"{dsn} has no TimescaleDB")
        # The PGlite server carries COPY FROM STDIN (infra/timescale/pglite/server.mjs), as PostgreSQL does.
        await conn.copy_records_to_table("readings", records=ROWS, columns=["muid", "obis", "ts", "value", "quality"])
        await refresh_channels(conn, {(r[0], r[1]) for r in ROWS})
        # Materialize the older part only: the rollup path must join materialized and real-time buckets.
        await conn.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, '2023-03-27'::timestamptz)")
    finally:
        await conn.close()
    yield dsn
    conn = await connect(dsn)
    try:
        await conn.execute("DELETE FROM readings WHERE muid = $1", MUID)
        await refresh_channels(conn, {(r[0], r[1]) for r in ROWS})
        await conn.execute("CALL refresh_continuous_aggregate('readings_hourly', NULL, NULL)")
    finally:
        await conn.close()


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn, statement_cache_size=0)
    await conn.execute("SET search_path = public")
    return conn


def reference(lo: datetime, hi: datetime, agg: str) -> tuple[int, float | None]:
    values = [value for _, _, ts, value, _ in ROWS if lo <= ts < hi]
    if not values:
        return 0, None
    return len(values), {
        "sum": math.fsum(values),
        "avg": math.fsum(values) / len(values),
        "min": min(values),
        "max": max(values),
        "count": float(len(values)),
    }[agg]


async def check_series(api: httpx.AsyncClient, tz: str, interval: str, start: str, end: str) -> None:
    zone = ZoneInfo(tz)
    lo = datetime.fromisoformat(start).replace(tzinfo=zone)
    hi = datetime.fromisoformat(end).replace(tzinfo=zone)
    for agg in ("sum", "avg", "min", "max", "count"):
        params = {"interval": interval, "agg": agg, "tz": tz, "start": start, "end": end}
        response = await api.get(f"/v1/meters/{MUID}/series", params=params)
        assert response.status_code == 200, response.text
        for point in response.json()["points"]:
            begin, finish = datetime.fromisoformat(point["start"]), datetime.fromisoformat(point["end"])
            count, value = reference(max(begin, lo), min(finish, hi), agg)
            assert point["count"] == count, (interval, agg, point)
            assert point["value"] == (None if value is None else pytest.approx(value, rel=1e-12, abs=1e-12))


async def test_series_on_timescale(timescale: str, client_factory: ClientFactory) -> None:
    api = await client_factory(
        timescale, series_from_aggregates=True, pool_max_size=1, statement_cache_size=0, search_path="public"
    )
    app: Any = cast(httpx.ASGITransport, api._transport).app
    assert app.state.db.hourly_rollup is True, "readings_hourly should be found as a continuous aggregate"
    before = series_source_counts()
    # From the continuous aggregate: bucket bounds on whole UTC hours (5 aggregates per call).
    for interval in ("1d", "1w", "1mo"):
        await check_series(api, "UTC", interval, "2023-03-01", "2023-05-01")
    await check_series(api, "Europe/Zurich", "1d", "2023-03-20", "2023-04-03")
    await check_series(api, "UTC", "1d", "2023-03-20T12:00", "2023-04-02T06:00")
    await check_series(api, "Europe/Zurich", "1h", "2023-03-25", "2023-03-28")
    after_rollup = series_source_counts()
    assert after_rollup["hourly_rollup"] - before["hourly_rollup"] == 6 * 5
    # Raw rows on the hypertable: a half-hour zone, 15-minute buckets, a range that starts within an hour.
    await check_series(api, "Asia/Kolkata", "1d", "2023-03-20", "2023-04-03")
    await check_series(api, "Europe/Zurich", "15m", "2023-03-25", "2023-03-27")
    await check_series(api, "UTC", "1d", "2023-03-20T12:15", "2023-04-02T06:00")
    assert series_source_counts()["raw"] - after_rollup["raw"] == 3 * 5
    stats = (await api.get(f"/v1/meters/{MUID}/stats")).json()
    assert stats["count"] == len(ROWS) and stats["expected"] == 14 * 96
    profile = await api.get(f"/v1/meters/{MUID}/profile", params={"tz": "Europe/Zurich"})
    assert profile.status_code == 200
    readings = (await api.get(f"/v1/meters/{MUID}/readings", params={"limit": 10})).json()
    assert len(readings["readings"]) == 10 and readings["next_cursor"]
    await check_day_type_and_patterns(api)


async def check_day_type_and_patterns(api: httpx.AsyncClient) -> None:
    """day_type filters and hourly patterns summed from the continuous aggregate, against the fixture rows."""
    zone = ZoneInfo("Europe/Zurich")
    params = {"tz": "Europe/Zurich", "start": "2023-03-20", "end": "2023-04-03", "day_type": "weekend"}
    series = (await api.get(f"/v1/meters/{MUID}/series", params={**params, "interval": "1d"})).json()
    for point in series["points"]:
        begin = datetime.fromisoformat(point["start"])
        count, value = reference(begin, datetime.fromisoformat(point["end"]), "sum")
        if begin.astimezone(zone).weekday() < 5:
            count, value = 0, None
        assert point["count"] == count and point["value"] == (None if value is None else pytest.approx(value))
    patterns = (await api.get(f"/v1/meters/{MUID}/profile", params={**params, "patterns": "true"})).json()["patterns"]
    hours: dict[datetime, float] = {}
    for _, _, ts, value, _ in ROWS:
        if ts.astimezone(zone).weekday() >= 5:
            hour = ts.replace(minute=0)
            hours[hour] = hours.get(hour, 0.0) + value
    for hour_of_day, got in enumerate(patterns["by_hour"]):
        values = [v for h, v in hours.items() if h.astimezone(zone).hour == hour_of_day]
        assert got["n"] == len(values)
        assert got["mean"] == pytest.approx(math.fsum(values) / len(values))
        assert got["max"] == pytest.approx(max(values)) and got["min"] == pytest.approx(min(values))
