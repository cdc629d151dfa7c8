"""Where tariffs come from: the YAML file (API_TARIFFS__FILE, else the shipped ``tariffs.yaml``) and the
``tariffs``/``tariff_versions`` tables (migration 0010). A tariff of the table wins over the file's of the
same name. The file is read once per process; the table's rows are reused for ``API_TARIFFS__CACHE_S``.

A file that cannot be read or holds an unusable tariff stops the API at start (the settings check it, and
the error names the file, the tariff and what to fix); a bad tariff in the table is left out and logged
(one bad row must not hide the other tariffs).
"""

from __future__ import annotations

import functools
import json
import time
import weakref
from importlib.resources import files
from pathlib import Path
from typing import Any

import asyncpg
import structlog
import yaml

from meterflow_api import sql
from meterflow_api.config import TariffSettings
from meterflow_api.db import Database, Session
from meterflow_api.domain.params import quoted
from meterflow_api.domain.tariffs import Tariff, TariffError, tariff_from_mapping
from meterflow_api.errors import NotFound

log = structlog.get_logger("meterflow.api.tariffs")

_TABLE_CACHE: weakref.WeakKeyDictionary[Database, tuple[float, dict[str, Tariff]]] = weakref.WeakKeyDictionary()


def shipped_tariffs_text() -> str:
    return files("meterflow_api").joinpath("tariffs.yaml").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=8)
def file_tariffs(path: Path | None) -> dict[str, Tariff]:
    """The tariffs of a YAML file (None: the shipped one), by name. Raises TariffError naming the problem."""
    try:
        text = shipped_tariffs_text() if path is None else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TariffError(f"tariffs file {path}: cannot be read: {error}") from None
    return tariffs_from_yaml(text, str(path or "meterflow_api/tariffs.yaml"))


def tariffs_from_yaml(text: str, where: str) -> dict[str, Tariff]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise TariffError(f"{where}: not YAML: {error}") from None
    entries = document.get("tariffs") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise TariffError(f"{where}: expected a mapping with a list under 'tariffs'")
    found: dict[str, Tariff] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise TariffError(f"{where}: each entry of 'tariffs' is a mapping")
        tariff = tariff_from_mapping(entry, "file")
        if tariff.name in found:
            raise TariffError(f"{where}: tariff {tariff.name} is defined twice")
        found[tariff.name] = tariff
    return found


def tariffs_from_rows(rows: list[Any]) -> dict[str, Tariff]:
    """Tariffs from the rows of sql.TARIFFS (one per version); a tariff with a bad row is left out."""
    grouped: dict[str, dict[str, Any]] = {}
    for name, description, zone, currency, country, subdivision, band, valid_from, fee, feed_in, bands in rows:
        entry = grouped.setdefault(
            name,
            {"name": name, "description": description, "zone": zone, "currency": currency, "versions": []},
        )
        if country is not None:
            entry["holidays"] = {"country": country, "subdivision": subdivision, "band": band}
        entry["versions"].append(
            {"valid_from": valid_from, "fixed_monthly_fee": fee, "feed_in_price": feed_in, "bands": json.loads(bands)}
        )
    found: dict[str, Tariff] = {}
    for name, entry in grouped.items():
        try:
            found[name] = tariff_from_mapping(entry, "table")
        except TariffError as error:
            log.error("tariff row refused", tariff=name, error=str(error))
    return found


async def table_tariffs(database: Database, session: Session, cache_s: float) -> dict[str, Tariff]:
    cached = _TABLE_CACHE.get(database)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    try:
        rows = await session.conn.fetch(sql.TARIFFS)
    except asyncpg.UndefinedTableError:  # a database before migration 0010: the file's tariffs only
        rows = []
    found = tariffs_from_rows(list(rows))
    if cache_s > 0:
        _TABLE_CACHE[database] = (time.monotonic() + cache_s, found)
    return found


async def all_tariffs(database: Database, session: Session, settings: TariffSettings) -> dict[str, Tariff]:
    """Every tariff by name: the file's, then the table's over them."""
    return {**file_tariffs(settings.file), **await table_tariffs(database, session, settings.cache_s)}


async def tariff_named(database: Database, session: Session, settings: TariffSettings, name: str) -> Tariff:
    """The tariff ``name``; NotFound lists the known ones."""
    known = await all_tariffs(database, session, settings)
    tariff = known.get(name)
    if tariff is None:
        raise NotFound(f"unknown tariff {quoted(name)}: known tariffs are {', '.join(sorted(known)) or 'none'}")
    return tariff
