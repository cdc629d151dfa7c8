"""`meterflow meters erase MUID` on real PostgreSQL: the meter's readings, hourly rollup rows, channels and
ownership go in one transaction with an audit_log row; other meters stay; erasing again is harmless and
recorded; the API (as its least-privilege login) then answers 404 for the meter."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from meterflow_harness.paths import BIN
from meterflow_harness.roles import API, as_login

pytestmark = pytest.mark.integration
Row = tuple[uuid.UUID, str, datetime, float, str]
OBIS = "1-0:1.29.0*255"
START = datetime(2023, 2, 1, tzinfo=UTC)


def rows_of(muid: uuid.UUID, count: int) -> list[Row]:
    return [(muid, OBIS, START + timedelta(minutes=15 * i), 0.25 + i / 1000, "measured") for i in range(count)]


def erase(dsn: str, muid: uuid.UUID, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "meterflow"), "meters", "erase", str(muid), "--dsn", dsn, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def counts(conn: asyncpg.Connection, muid: uuid.UUID) -> dict[str, int]:
    return {
        table: await conn.fetchval(f"SELECT count(*) FROM {table} WHERE muid = $1", muid)
        for table in ("readings", "readings_hourly", "channels", "meter_tenants")
    }


async def test_erase_removes_one_meter_records_it_and_the_api_forgets_it(
    database: str,
    client_factory: Callable[..., Any],
    insert_rows: Callable[[str, Iterable[Row]], Any],
) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    await insert_rows(database, rows_of(erased, 96) + rows_of(kept, 8))
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("INSERT INTO tenants (name) VALUES ('erase-test') ON CONFLICT DO NOTHING")
        await conn.execute(
            "INSERT INTO meter_tenants (muid, tenant, assigned_by) VALUES ($1, 'erase-test', 'cli'), "
            "($2, 'erase-test', 'cli')",
            erased,
            kept,
        )
        before = await counts(conn, erased)
        assert before == {"readings": 96, "readings_hourly": 24, "channels": 1, "meter_tenants": 1}
        api: httpx.AsyncClient = await client_factory(as_login(database, API), key_dsn=database, channel_cache_s=0)
        day = {"start": "2023-02-01T00:00:00Z", "end": "2023-02-02T00:00:00Z"}
        assert (await api.get(f"/v1/meters/{erased}/readings", params=day)).status_code == 200

        done = erase(database, erased, "--actor", "alice@example.org")
        assert done.returncode == 0, done.stderr
        summary = done.stdout.strip().splitlines()[-1]
        assert f"erased meter {erased}: 96 readings, 24 hourly rollup rows, 1 channels" in summary
        assert "owned by erase-test" in summary

        assert await counts(conn, erased) == {"readings": 0, "readings_hourly": 0, "channels": 0, "meter_tenants": 0}
        assert await counts(conn, kept) == {"readings": 8, "readings_hourly": 2, "channels": 1, "meter_tenants": 1}
        audit = await conn.fetch(
            "SELECT actor, action, subject, detail::text FROM audit_log WHERE action = 'meter.erase' ORDER BY id"
        )
        assert [(a["actor"], a["action"], a["subject"]) for a in audit] == [
            ("alice@example.org", "meter.erase", str(erased))
        ]
        assert '"readings": 96' in audit[0]["detail"] and '"tenant": "erase-test"' in audit[0]["detail"]

        for path in ("readings", "series", "stats"):
            response = await api.get(f"/v1/meters/{erased}/{path}", params=day)
            assert response.status_code == 404, (path, response.text)
        listed = (await api.get("/v1/meters")).json()["meters"]
        assert [m["muid"] for m in listed] == [str(kept)]

        # Idempotent: nothing left to delete, and the request is recorded all the same (the OS user by default).
        again = erase(database, erased)
        assert again.returncode == 0, again.stderr
        assert f"erased meter {erased}: 0 readings" in again.stdout
        assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE subject = $1", str(erased)) == 2
    finally:
        await conn.close()
