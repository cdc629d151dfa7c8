"""Response bodies: JSON through orjson (datetimes keep their offset, NaN becomes null) and CSV tables."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson
from starlette.responses import Response


def json_response(payload: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def csv_response(
    header: Sequence[str], rows: Iterable[Sequence[Any]], filename: str, headers: Mapping[str, str] | None = None
) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(value) for value in row] for row in rows)
    all_headers = {"Content-Disposition": f'inline; filename="{filename}"', **(headers or {})}
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8", headers=all_headers)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)  # shortest round-trip text, as in JSON
    return value
