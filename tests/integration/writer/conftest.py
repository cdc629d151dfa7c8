"""Fixtures of the writer's integration tests (defined in writer_processes, shared with tests/reliability)."""

from integration.writer.writer_processes import writers

__all__ = ["writers"]
