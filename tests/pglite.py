"""A TimescaleDB (PGlite) server for a test or suite of its own; the test is skipped where node/npm are missing,
which in CI (CI=true) fails the run (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from meterflow_harness import servers


@contextmanager
def pglite_server(name: str) -> Iterator[str]:
    """meterflow_harness.servers.pglite_server, with a skip instead of ToolMissing."""
    try:
        with servers.pglite_server(name) as dsn:
            yield dsn
    except servers.ToolMissing as missing:
        pytest.skip(str(missing))
