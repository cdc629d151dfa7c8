"""Unique names for the topics, databases and buckets of one test or benchmark run."""

from __future__ import annotations

import uuid


def unique(prefix: str) -> str:
    """``prefix`` followed by ten random hex digits."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"
