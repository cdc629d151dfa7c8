"""Metrics of query APIs built in the test process (create_app), read from this process's registry.

Imported as ``integration.api.api_metrics`` (tests/ is on sys.path through tests/conftest.py).
"""

from __future__ import annotations


def series_source_counts() -> dict[str, float]:
    """meterflow_api_series_source_total by source, from this process's registry (APIs built in-process)."""
    from prometheus_client import REGISTRY

    return {
        source: REGISTRY.get_sample_value("meterflow_api_series_source_total", {"source": source}) or 0.0
        for source in ("hourly_rollup", "raw")
    }
