"""Fixtures of the reliability tests (the writer's come from tests/integration/writer/writer_kit.py)."""

from integration.writer.writer_kit import writers

__all__ = ["writers"]
