"""One trace id per source object version, in W3C Trace Context form (``traceparent``), so that
``grep <trace id>`` over every stage's logs tells the story of one file.

The id is derived from the object version (bucket, key, ETag), not drawn at random: every stage can compute
it from the source position every message carries (RawBatch, ReadingBatch and DeadLetter all hold one), so
it survives stages that drop headers, old messages without the header, and replays (a replay of the same
object version continues its story). The poller sets the ``traceparent`` header on the raw messages and its
dead letters, the normalizer on the readings and dead letters it derives, the writer's dead letters carry it
too: OpenTelemetry-aware tools read it as a trace; each message gets its own span id.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from meterflow_contracts import SourcePosition

HEADER = "traceparent"
Headers = list[tuple[str, bytes]]


def trace_id(bucket: str, key: str, etag: str) -> str:
    """32 hex digits (W3C trace-id) for the object version."""
    return hashlib.blake2b(f"{bucket}\0{key}\0{etag}".encode(), digest_size=16).hexdigest()


def trace_id_of(source: SourcePosition | None) -> str | None:
    return None if source is None else trace_id(source.bucket, source.key, source.etag)


def trace_ids_of(sources: Iterable[SourcePosition | None]) -> list[str]:
    """The distinct trace ids of ``sources``, sorted (a writer batch holds messages of several objects)."""
    return sorted({trace for trace in map(trace_id_of, sources) if trace is not None})


def traceparent(trace: str) -> str:
    """version 00, the trace id, a new span id, flags 01 (sampled)."""
    return f"00-{trace}-{secrets.token_hex(8)}-01"


def trace_headers(source: SourcePosition | None) -> Headers:
    """The Kafka headers of a message about ``source`` (none without a source)."""
    trace = trace_id_of(source)
    return [] if trace is None else [(HEADER, traceparent(trace).encode())]


def trace_id_in(headers: Iterable[tuple[str, bytes]] | None) -> str | None:
    """The trace id of a ``traceparent`` header, if there is a well-formed one."""
    for name, value in headers or ():
        if name == HEADER:
            parts = value.decode("ascii", "replace").split("-")
            if len(parts) == 4 and len(parts[1]) == 32:
                return parts[1]
    return None
