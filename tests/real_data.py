"""The real Exnaton source files the tests read: where they are (MF_SHARED_DATA) and the channel each holds."""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from meterflow_harness.paths import REPO
from meterflow_obis import parse
from meterflow_schema import refresh_channels

SHARED_DATA = Path(os.environ.get("MF_SHARED_DATA", REPO.parent / "shared" / "data" / "exnaton-2023-02"))
REAL_FILES = {
    "95ce3367-cbce-4a4d-bbe3-da082831d7bd": "0100011D00FF",
    "1db7649e-9342-4e04-97c7-f0ebb88ed1f8": "0100021D00FF",
}


def real_records(muid: str) -> list[dict[str, Any]]:
    """The records of a meter's real source file. Skips the test when the shared data folder is absent
    (outside CI; in CI a skip fails the run, with this message)."""
    path = SHARED_DATA / f"{muid}.json"
    if not path.is_file():
        pytest.skip(f"real meter data not found at {path} (set MF_SHARED_DATA to the exnaton-2023-02 folder)")
    records: list[dict[str, Any]] = json.loads(path.read_bytes())["data"]
    return records


def real_rows(muid: str) -> list[tuple[uuid.UUID, str, datetime, float, str]]:
    """The rows the pipeline stores for a meter's real source file: one per record and OBIS key."""
    rows = []
    for record in real_records(muid):
        ts = datetime.fromisoformat(record["timestamp"])
        for key, value in record.items():
            if key not in ("measurement", "timestamp", "tags"):
                rows.append(
                    (
                        uuid.UUID(record["tags"]["muid"]),
                        parse(key).normalized,
                        ts,
                        float(value),
                        record["tags"]["quality"],
                    )
                )
    return rows


async def load_real_files(dsn: str, muids: list[str]) -> None:
    """COPY the real files of ``muids`` into readings and compute their channels, as the writer would."""
    records = [row for muid in muids for row in real_rows(muid)]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table(
            "readings", records=records, columns=["muid", "obis", "ts", "value", "quality"]
        )
        await refresh_channels(conn, {(r[0], r[1]) for r in records})
    finally:
        await conn.close()
