"""Where the repository and the installed console scripts are."""

from __future__ import annotations

import sys
from pathlib import Path

# The harness is a workspace member installed in editable mode: this file stays at
# <repo>/tools/harness/src/meterflow_harness/paths.py.
REPO = Path(__file__).resolve().parents[4]
# The console scripts (meterflow-writer, moto_server, ...) of the environment running this code.
BIN = Path(sys.executable).parent
