"""Fixtures of the writer's integration tests (defined in writer_kit, shared with tests/reliability)."""

from integration.writer.writer_kit import writers

__all__ = ["writers"]
