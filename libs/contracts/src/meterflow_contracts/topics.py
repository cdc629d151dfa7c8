"""Topic declarations: the single place that names each topic, its partitions, its model, its key and
its codec.

A :class:`TopicSpec` encodes and decodes its own messages, as quix-streams' ``Topic.serialize`` /
``Topic.deserialize`` do: producers call ``serialize`` (key and value bytes), consumers ``deserialize``.
No service builds a key or dumps a model by hand, so the wire format and the key choice live here once.
:class:`TopicDurability` holds the replication and retention every topic is created with and checked
against (production defaults; a one-broker cluster sets RF 1 and min ISR 1 explicitly).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, Field

from meterflow_contracts.models import Checkpoint, DeadLetter, RawBatch, ReadingBatch, ReadingColumns

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
# Room a message's key and value leave under a topic's max.message.bytes: the record batch header and
# the codecs' worst case on data they cannot compress (lz4 0.4 %, zstd under 0.1 %) stay well inside it.
MESSAGE_OVERHEAD_BYTES = 64 * 1024
_WEEK_MS = 7 * 24 * 3600 * 1000


class TopicDurability(BaseModel):
    """How many copies of each topic the brokers keep, and for how long: what ``create_topics`` applies
    and what the services' start-up check compares the existing topics with.

    The defaults are production's: 3 replicas, writes acknowledged by 2 (``acks=all``), retention by
    time only (no size cap, so a lagging consumer never loses data to one), and the dead-letter topic
    kept until its records are replayed (``retention.ms`` -1). A one-broker cluster (the local stack,
    the tests) sets ``replication_factor`` and ``min_insync_replicas`` to 1 explicitly.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    replication_factor: int = Field(3, ge=1, description="Replicas of every partition.")
    min_insync_replicas: int = Field(2, ge=1, description="Replicas that must have a write (acks=all).")
    retention_ms: int = Field(_WEEK_MS, ge=-1, description="How long raw and readings are kept; -1: forever.")
    retention_bytes: int = Field(-1, ge=-1, description="Size cap per partition; -1: none (time only).")
    dlq_retention_ms: int = Field(-1, ge=-1, description="How long dead letters are kept; -1: until replayed.")

    @classmethod
    def single_broker(cls) -> TopicDurability:
        """A cluster of one broker (the local stack, tests, benchmarks): one replica, nothing else weaker."""
        return cls(replication_factor=1, min_insync_replicas=1)


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class TopicSpec(Generic[M]):
    """A topic: its name (with the major version), partitions, value model and message key.

    ``key_of`` picks the message key from a value; ``key_description`` says the same in words (it goes
    into the JSON Schema snapshot). ``parse_json`` replaces pydantic's JSON parser where another one is
    faster for the topic's values (the raw topic's arbitrary records), ``dump_json`` its serializer.
    """

    name: str
    partitions: int
    model: type[M]
    key_description: str
    key_of: Callable[[M], str] = field(repr=False)
    compacted: bool = False
    parse_json: Callable[[bytes], Any] | None = field(default=None, repr=False)
    dump_json: Callable[[M], bytes] | None = field(default=None, repr=False)
    keep_until_replayed: bool = False
    max_message_bytes: int = MAX_MESSAGE_BYTES

    def config(self, durability: TopicDurability | None = None) -> dict[str, str]:
        """Topic-level configs to create the topic with (and to check an existing one against)."""
        durability = durability or TopicDurability()
        # Producers allow 4 MiB requests; the broker's 1 MiB default would refuse a full raw chunk.
        common = {
            "max.message.bytes": str(self.max_message_bytes),
            "min.insync.replicas": str(durability.min_insync_replicas),
        }
        if self.compacted:
            return {**common, "cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
        retention_ms = durability.dlq_retention_ms if self.keep_until_replayed else durability.retention_ms
        return {**common, "retention.ms": str(retention_ms), "retention.bytes": str(durability.retention_bytes)}

    def fits(self, key: bytes, value: bytes) -> bool:
        """Whether a serialized message stays within the topic's message size limit."""
        return len(key) + len(value) <= self.max_message_bytes - MESSAGE_OVERHEAD_BYTES

    def encode_key(self, value: M) -> bytes:
        return self.key_of(value).encode()

    def encode_value(self, value: M) -> bytes:
        if self.dump_json is not None:
            return self.dump_json(value)
        return value.model_dump_json().encode()

    def serialize(self, value: M, key: str | bytes | None = None) -> tuple[bytes, bytes]:
        """The message as (key, value) bytes. ``key`` overrides the topic's key choice: a dead letter
        about an undecodable message keeps that message's own key."""
        if key is None:
            return self.encode_key(value), self.encode_value(value)
        return (key if isinstance(key, bytes) else key.encode()), self.encode_value(value)

    def deserialize(self, value: bytes) -> M:
        """The validated model of a message value; raises ValueError (pydantic's ValidationError or a
        JSON decode error) when the bytes are not a message of this topic."""
        if self.parse_json is None:
            return self.model.model_validate_json(value)
        return self.model.model_validate(self.parse_json(value))


def checkpoint_key(bucket: str, key: str) -> str:
    """Key of an object's checkpoint (also of its tombstone, which has no value to take it from)."""
    return f"{bucket}/{key}"


# The checkpoint topic also holds the poller leader's generation counter, one record per poller group under
# this reserved key prefix (no "/", so it never looks like bucket/key); its value is no Checkpoint.
LEADER_GENERATION_KEY_PREFIX = b"leader-generation:"


def is_leader_generation_record(key: bytes | None) -> bool:
    """Whether a record of the checkpoint topic is a leader generation record rather than a checkpoint."""
    return key is not None and key.startswith(LEADER_GENERATION_KEY_PREFIX)


def _source_object_key(batch: RawBatch) -> str:
    return batch.source.key


def _muid(batch: ReadingBatch | ReadingColumns) -> str:
    return str(batch.muid)


def _dead_letter_source_key(dead: DeadLetter) -> str:
    # A dead letter without a source (an undecodable message) is sent with that message's own key.
    return dead.source.key if dead.source is not None else ""


def _checkpoint_object(checkpoint: Checkpoint) -> str:
    return checkpoint_key(checkpoint.bucket, checkpoint.key)


_RAW_FIELDS = tuple(RawBatch.model_fields)


def _dump_raw(batch: RawBatch) -> bytes:
    """The raw batch as JSON: orjson writes the records (plain JSON values) about seven times faster than
    pydantic's serializer of ``list[Any]``; pydantic writes the small rest. A record orjson cannot write
    (an integer beyond 64 bits from the streaming parser) falls back to pydantic for the whole batch."""
    try:
        envelope = batch.model_dump(mode="json", exclude={"records"})
        # In the model's field order, as pydantic writes it.
        return orjson.dumps({name: batch.records if name == "records" else envelope[name] for name in _RAW_FIELDS})
    except TypeError:  # orjson.JSONEncodeError
        return batch.model_dump_json().encode()


def _parse_raw(value: bytes) -> Any:
    """A raw message's JSON: orjson builds the records' dicts about twice as fast as pydantic's own parser,
    but refuses numbers beyond a double (``1e400``, a 400-digit integer), valid JSON the poller forwards in
    its records' bytes; the standard library's parser reads those (1e400 as inf, for the normalizer to
    reject that one reading). A message neither parser takes raises orjson's error."""
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError as error:
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            raise error from None


RAW = TopicSpec(
    "meter.raw.v1",
    4,
    RawBatch,
    "source object key",
    key_of=_source_object_key,
    parse_json=_parse_raw,
    dump_json=_dump_raw,
)
READINGS = TopicSpec("meter.readings.v1", 6, ReadingBatch, "muid", key_of=_muid)
# The columnar form of the same readings (issue 19): what the pipeline's own writer reads.
READINGS_V2 = TopicSpec("meter.readings.v2", 6, ReadingColumns, "muid", key_of=_muid)
DLQ = TopicSpec(
    "meter.readings.dlq.v1",
    1,
    DeadLetter,
    "source object key",
    key_of=_dead_letter_source_key,
    keep_until_replayed=True,
)
CHECKPOINTS = TopicSpec(
    "meter.poller.checkpoints.v1", 1, Checkpoint, "bucket/key", key_of=_checkpoint_object, compacted=True
)
ALL_TOPICS: tuple[TopicSpec[Any], ...] = (RAW, READINGS, READINGS_V2, DLQ, CHECKPOINTS)
