"""Cost on TimescaleDB (the PGlite conformance server): priced from the readings_hourly continuous aggregate
(partly materialized, partly real-time) and from the raw hypertable rows, grouped by band segment and hour by
hour, all equal to pricing the rows here in Python. Uses the server and rows of test_api_timescale."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from integration.api.test_api_timescale import MUID, ROWS, timescale

pytestmark = [pytest.mark.integration, pytest.mark.conformance]
__all__ = ["timescale"]  # the fixture, imported to be used here

ClientFactory = Callable[..., Awaitable[httpx.AsyncClient]]
ZURICH = ZoneInfo("Europe/Zurich")


def expected_cost(lo: datetime, hi: datetime) -> Decimal:
    total = Decimal(0)
    for _, _, ts, value, _ in ROWS:
        if lo <= ts < hi:
            local = ts.astimezone(ZURICH)
            high = local.weekday() < 5 and 7 <= local.hour < 20
            total += Decimal(repr(value)) * Decimal("0.32" if high else "0.22")
    return total.quantize(Decimal("0.0001"))


async def test_cost_on_timescale(timescale: str, client_factory: ClientFactory) -> None:
    # The server serves one connection at a time: one client, whose pool holds it.
    api = await client_factory(
        timescale, series_from_aggregates=True, pool_max_size=1, statement_cache_size=0, search_path="public"
    )
    # Whole hours: from the continuous aggregate; from 00:15, the raw hypertable rows.
    for start, lo in (
        ("2023-03-20", datetime(2023, 3, 19, 23, tzinfo=UTC)),
        ("2023-03-20T00:15", datetime(2023, 3, 19, 23, 15, tzinfo=UTC)),
    ):
        hi = datetime(2023, 4, 2, 22, tzinfo=UTC)  # 2023-04-03 in Zurich (summer time)
        answers = []
        for extra in ({}, {"interval": "1d"}, {"interval": "1h"}):
            params = {"tariff": "ch-ht-nt", "start": start, "end": "2023-04-03", **extra}
            response = await api.get(f"/v1/meters/{MUID}/cost", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            assert Decimal(repr(body["total_cost"])) == expected_cost(lo, hi)
            answers.append((body["bands"], body["total_kwh"]))
        assert all(answer == answers[0] for answer in answers)
