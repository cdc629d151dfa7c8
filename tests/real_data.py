"""The real Exnaton source files the tests read: where they are (MF_SHARED_DATA) and the channel each holds."""

from __future__ import annotations

import os
from pathlib import Path

from meterflow_harness.paths import REPO

SHARED_DATA = Path(os.environ.get("MF_SHARED_DATA", REPO.parent / "shared" / "data" / "exnaton-2023-02"))
REAL_FILES = {
    "95ce3367-cbce-4a4d-bbe3-da082831d7bd": "0100011D00FF",
    "1db7649e-9342-4e04-97c7-f0ebb88ed1f8": "0100021D00FF",
}
