"""The writer's own binary COPY encoding gives exactly what asyncpg's encoding of the same rows gives."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
from meterflow_writer.domain import Row
from meterflow_writer.pgcopy import COLUMNS, chunks, encode_rows

pytestmark = pytest.mark.integration

M1 = uuid.UUID("11111111-1111-4111-8111-111111111111")
M2 = uuid.UUID("22222222-2222-4222-8222-222222222222")
TABLE_COLUMNS = (
    "muid uuid, obis text, ts timestamptz, value double precision, quality text,"
    " source_modified timestamptz, source_record integer"
)


def edge_rows() -> list[Row]:
    plus14 = timezone(timedelta(hours=14))
    t0 = datetime(2023, 3, 26, 0, 45, tzinfo=UTC)
    modified = datetime(2023, 4, 1, 12, 0, 0, 123_456, tzinfo=UTC)
    rows: list[Row] = [
        (M1, "1-0:1.29.0*255", t0 + timedelta(minutes=15 * i), i * 0.1, "measured", modified, i) for i in range(50)
    ]
    rows += [
        (
            M1,
            "1-0:2.29.0*255",
            datetime(2023, 3, 26, 3, 0, tzinfo=timezone(timedelta(hours=2))),
            -0.0,
            "estimated",
            None,
            2**31 - 1,
        ),
        (
            M2,
            "1-0:1.29.0*255",
            datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
            1e308,
            "mesuré ✓",
            datetime(2000, 1, 1, tzinfo=plus14),
            None,
        ),
        # Near the ends of Python's range (asyncpg turns exactly datetime.min/max into -infinity/infinity,
        # the writer's encoding keeps the instant: those two are left out of the comparison).
        (M2, "1-0:1.29.0*255", datetime(1, 1, 1, 14, 0, 1, tzinfo=plus14), 5e-324, "", None, None),
        (M2, "1-0:1.29.0*255", datetime(9999, 12, 31, 23, 59, 58, 999_999, tzinfo=UTC), math.inf, "x" * 300, None, 0),
        (M2, "1-0:3.29.0*255", datetime(2000, 1, 1, tzinfo=UTC), -math.inf, "q", None, None),
        (M2, "1-0:4.29.0*255", datetime(2000, 1, 1, 0, 0, 0, 1, tzinfo=UTC), math.nan, "q", None, None),
    ]
    return rows


async def test_own_encoding_equals_asyncpg_encoding(database: str) -> None:
    rows = edge_rows()
    conn = await asyncpg.connect(database)
    try:
        for table in ("by_asyncpg", "by_writer"):
            await conn.execute(f"CREATE TEMP TABLE {table} ({TABLE_COLUMNS})")
        await conn.copy_records_to_table("by_asyncpg", records=rows, columns=COLUMNS)
        await conn.copy_to_table("by_writer", source=chunks(encode_rows(rows)), columns=COLUMNS, format="binary")
        differ = await conn.fetchval(
            "SELECT count(*) FROM ((TABLE by_asyncpg EXCEPT ALL TABLE by_writer)"
            " UNION ALL (TABLE by_writer EXCEPT ALL TABLE by_asyncpg)) d"
        )
        assert differ == 0
        assert await conn.fetchval("SELECT count(*) FROM by_writer") == len(rows)
    finally:
        await conn.close()


async def test_the_database_still_judges_text(database: str) -> None:
    conn = await asyncpg.connect(database)
    try:
        await conn.execute(f"CREATE TEMP TABLE t ({TABLE_COLUMNS})")
        payload = encode_rows([(M1, "o", datetime(2023, 1, 1, tzinfo=UTC), 1.0, "nul\x00inside", None, None)])
        with pytest.raises(asyncpg.CharacterNotInRepertoireError):
            await conn.copy_to_table("t", source=chunks(payload), columns=COLUMNS, format="binary")
    finally:
        await conn.close()
