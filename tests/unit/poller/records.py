"""What a chunk's records say, whichever form the poller holds them in: parsed values, or the records'
own bytes (orjson fragments, on the whole-document path)."""

from __future__ import annotations

import json
from typing import Any

import orjson


def values_of(records: list[Any]) -> list[Any]:
    """The records as the normalizer reads them (the standard library's parser takes numbers no double
    holds, as the normalizer's fallback does)."""
    return list(json.loads(orjson.dumps(records)))
