"""Fixtures of the reliability tests (the writer's come from tests/integration/writer/writer_processes.py)."""

from integration.writer.writer_processes import writers

__all__ = ["writers"]
