"""Reading figures out of a Prometheus text exposition (a service's /metrics)."""

from __future__ import annotations


def metric_value(text: str, name: str, labels: str = "") -> float:
    """Sum of the samples of ``name`` (optionally only those whose label set contains ``labels``)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] == name and labels in series:
            total += float(value)
    return total
