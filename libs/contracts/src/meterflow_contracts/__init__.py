"""Meterflow event contracts: the one package every service and downstream consumer imports.

A topic's name carries its major version; a breaking change means a new model and a new topic.
Every message carries ``schema_version`` and is validated on read; each topic encodes and decodes its
own messages (``RAW.serialize(batch)``, ``READINGS.deserialize(value)``). ``meterflow_contracts.admin``
creates the topics.
"""

from meterflow_contracts.models import (
    Checkpoint,
    DeadLetter,
    DlqReason,
    RawBatch,
    Reading,
    ReadingBatch,
    ReadingColumns,
    SourcePosition,
)
from meterflow_contracts.topics import (
    ALL_TOPICS,
    CHECKPOINTS,
    DLQ,
    LEADER_GENERATION_KEY_PREFIX,
    RAW,
    READINGS,
    READINGS_V2,
    TopicDurability,
    TopicSpec,
    checkpoint_key,
    is_leader_generation_record,
)

__all__ = [
    "ALL_TOPICS",
    "CHECKPOINTS",
    "DLQ",
    "LEADER_GENERATION_KEY_PREFIX",
    "RAW",
    "READINGS",
    "READINGS_V2",
    "Checkpoint",
    "DeadLetter",
    "DlqReason",
    "RawBatch",
    "Reading",
    "ReadingBatch",
    "ReadingColumns",
    "SourcePosition",
    "TopicDurability",
    "TopicSpec",
    "checkpoint_key",
    "is_leader_generation_record",
]
