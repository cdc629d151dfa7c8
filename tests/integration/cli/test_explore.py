"""``meterflow explore`` on the real February files in a real PostgreSQL: the report's figures and findings
against the data folder's published facts and against computations written here from the source JSON."""

from __future__ import annotations

import asyncio
import json
import re
import sys
from asyncio.subprocess import PIPE
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from meterflow_cli.sites_cmd import create_site, parse_channel
from meterflow_harness.api_keys import assign_meters
from real_data import REAL_FILES, SHARED_DATA, load_real_files

IMPORT, EXPORT = "95ce3367-cbce-4a4d-bbe3-da082831d7bd", "1db7649e-9342-4e04-97c7-f0ebb88ed1f8"
ZURICH = ZoneInfo("Europe/Zurich")


def source(muid: str) -> list[tuple[datetime, Decimal]]:
    """(UTC interval start, exact value) of a real file, oldest first."""
    records = json.loads((SHARED_DATA / f"{muid}.json").read_bytes(), parse_float=Decimal, parse_int=Decimal)["data"]
    key = REAL_FILES[muid]
    return sorted((datetime.fromisoformat(r["timestamp"]), r[key]) for r in records)


async def explore(*args: str) -> tuple[int, str, str]:
    """``meterflow explore ARGS`` as a process, as from a shell: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "meterflow_cli.main", "explore", *args, stdout=PIPE, stderr=PIPE
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def explore_json(dsn: str, tz: str) -> dict[str, Any]:
    code, out, err = await explore(IMPORT, EXPORT, "--tz", tz, "--json", "--dsn", dsn)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def channel(report: dict[str, Any], muid: str) -> dict[str, Any]:
    return next(c for c in report["channels"] if c["muid"] == muid)


def texts(report: dict[str, Any], key: str) -> list[str]:
    return [f["text"] for f in report["findings"][key]]


@pytest.fixture
async def loaded(database: str) -> str:
    await load_real_files(database, [IMPORT, EXPORT])
    return database


async def test_figures_in_utc_are_the_published_facts(loaded: str) -> None:
    report = await explore_json(loaded, "UTC")
    imports, exports = channel(report, IMPORT), channel(report, EXPORT)
    assert (imports["total_kwh"], exports["total_kwh"]) == (97.6082, 36.19725)
    assert imports["coverage"]["readings"] == imports["coverage"]["expected"] == 2688
    assert imports["coverage"]["gaps"] == [] and exports["coverage"]["zeros"] == 1680
    assert (imports["distribution"]["min"], imports["distribution"]["max"]) == (0.0114, 0.9612)
    assert (imports["daily_kwh"]["2023-02-01"], exports["daily_kwh"]["2023-02-01"]) == (1.8766, 2.07875)
    assert max(imports["daily_kwh"].items(), key=lambda kv: kv[1]) == ("2023-02-08", 5.2117)
    assert max(exports["daily_kwh"].items(), key=lambda kv: kv[1]) == ("2023-02-21", 4.36925)
    assert list(imports["weekly_kwh"].values()) == [18.113, 25.4365, 21.6811, 25.1537, 7.2239]
    assert list(exports["weekly_kwh"].values()) == [5.29875, 7.81275, 9.74075, 7.9225, 5.4225]
    assert imports["monthly_kwh"] == {"2023-02": 97.6082}


async def test_findings_in_zurich_match_an_independent_reading(loaded: str) -> None:
    report = await explore_json(loaded, "Europe/Zurich")
    exported = [(ts.astimezone(ZURICH), v) for ts, v in source(EXPORT) if v > 0]
    first = min(ts.strftime("%H:%M") for ts, _ in exported)
    last = max(ts.strftime("%H:%M") for ts, _ in exported)
    assert (first, last) == ("07:15", "17:45")  # 06:15-16:45 UTC in the data README, CET = UTC+1
    assert f"export only between {first} and {last} local time: a PV system." in texts(
        report, f"{EXPORT} 1-0:2.29.0*255"
    )
    meaning = texts(report, f"{EXPORT} 1-0:2.29.0*255")[0]
    assert (
        meaning.startswith("0100021D00FF (1-0:2.29.0*255) is active energy export")
        and "not" not in meaning.split("(")[0]
    )
    assert "reactive energy would be C = 3 or 4" in meaning

    values = np.array([float(v) for _, v in source(IMPORT)])
    centred = values - values.mean()
    r_day = float(centred[:-96] @ centred[96:] / (centred @ centred))
    imports = channel(report, IMPORT)
    assert imports["daily_autocorrelation"] == pytest.approx(r_day, abs=2e-3)
    assert r_day < 0.3 and any(t.startswith("No daily routine") for t in texts(report, f"{IMPORT} 1-0:1.29.0*255"))

    night = sum(v for ts, v in source(IMPORT) if ts.astimezone(ZURICH).hour < 6)
    assert imports["night_share"] == pytest.approx(float(night / sum(v for _, v in source(IMPORT))), abs=1e-6)
    site = texts(report, "site")[0]
    assert "36.20 kWh were exported and 97.61 kWh imported" in site and "unknown without a production meter" in site


async def test_html_report_is_self_contained(loaded: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    code, _, err = await explore(IMPORT, EXPORT, "--tz", "Europe/Zurich", "--out", str(out), "--dsn", loaded)
    assert code == 0, err
    page = out.read_text()
    assert page.count("<svg") == 2 * 6 + 1 + 1  # six figures per channel, the export window, import vs export
    assert "export only between 07:15 and 17:45 local time: a PV system." in page
    assert "<script" not in page and "@import" not in page
    # Raster parts of a figure (the heatmap, colour bars) are inline data: URIs; nothing else is referenced.
    external = re.findall(r"""(?:src|href|url)[=(]["']?(?!#|data:)([^"')]+)""", page)
    assert external == [], f"the report fetches {external}"


async def test_nothing_to_explore_and_bad_zone_are_reported(database: str) -> None:
    code, _, err = await explore(IMPORT, "--json", "--dsn", database)
    assert (code, "no channel stored" in err) == (3, True)
    code, _, err = await explore(IMPORT, "--json", "--tz", "Mars/Olympus", "--dsn", database)
    assert (code, "Mars/Olympus" in err) == (2, True)


async def test_a_site_is_explored_as_its_import_and_export_channels(loaded: str) -> None:
    await assign_meters(loaded, "explore-home", [IMPORT, EXPORT])
    specs = [parse_channel("import", IMPORT), parse_channel("export", EXPORT)]
    await create_site(loaded, "explore-home", "explore-home", specs)
    code, out, err = await explore("--site", "explore-home", "--tz", "Europe/Zurich", "--json", "--dsn", loaded)
    assert code == 0, err
    report = json.loads(out)
    assert {c["muid"] for c in report["channels"]} == {IMPORT, EXPORT}
    assert "36.20 kWh were exported and 97.61 kWh imported" in texts(report, "site")[0]
    code, _, err = await explore("--site", "nowhere", "--json", "--dsn", loaded)
    assert (code, "no site 'nowhere'" in err) == (3, True)
