"""PostgreSQL binary COPY encoding of readings rows, done by us rather than by the driver.

asyncpg's ``copy_records_to_table`` encodes every field of every row generically, and in the benchmark it
was the largest share of the writer's own CPU. Rows come in runs that share the meter, the channel and
usually the quality, so here each run's fixed bytes are built once, and a row costs one timestamp
subtraction and one ``struct.pack``. The source version (last-modified time, record index) follows the
value and the quality: the time is shared by a message's rows, so its bytes are built once per run too.
The batcher encodes a batch while the loader writes the previous one, which takes the encoding off the
critical path too.

Format (PostgreSQL docs, "COPY ... BINARY"): the signature ``PGCOPY\\n\\377\\r\\n\\0``, int32 flags, int32
header extension length; per row an int16 field count and, per field, an int32 length and the field's
binary ``send`` form: uuid = 16 bytes, text = UTF-8, timestamptz = int64 microseconds since
2000-01-01 00:00 UTC, float8 = IEEE 754 big-endian, int4 = int32; a NULL field is the length -1 alone; at the
end an int16 -1.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

from meterflow_writer.domain import Row

COLUMNS = ("muid", "obis", "ts", "value", "quality", "source_modified", "source_record")
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Timestamps Python can read back (asyncpg decodes to datetime): a reading outside them would be stored
# but break every reader, so it is refused like any value the database rejects.
MIN_TS_US = (datetime.min.replace(tzinfo=UTC) - PG_EPOCH) // MICROSECOND
MAX_TS_US = (datetime.max.replace(tzinfo=UTC) - PG_EPOCH) // MICROSECOND
_PREFIX = struct.Struct(">hi16si")  # field count, uuid length, uuid, obis length (obis bytes follow)
_TIMESTAMP = struct.Struct(">iq")  # length 8, microseconds since PG_EPOCH
NULL = struct.pack(">i", -1)
CHUNK_BYTES = 1 << 20


def encode_rows(rows: Iterable[Row]) -> bytes:
    """The binary COPY stream of ``rows`` (columns COLUMNS). Raises ValueError for a value PostgreSQL
    would store but Python could not read back, or text that is not encodable as UTF-8."""
    parts = [HEADER]
    append = parts.append
    last_muid = last_obis = None
    prefix = b""
    last_modified: datetime | None = None
    modified_bytes = NULL
    # quality -> the bytes of the quality and source_modified fields, for the current last-modified time
    tails: dict[str, bytes] = {}
    packers: dict[tuple[int, int, bool], struct.Struct] = {}
    for muid, obis, ts, value, quality, modified, record in rows:
        if muid is not last_muid or obis is not last_obis:
            obis_bytes = obis.encode()
            prefix = _PREFIX.pack(len(COLUMNS), 16, muid.bytes, len(obis_bytes)) + obis_bytes
            last_muid, last_obis = muid, obis
        if modified is not last_modified:
            modified_bytes = NULL if modified is None else _TIMESTAMP.pack(8, _micros(modified))
            last_modified = modified
            tails = {}
        tail = tails.get(quality)
        if tail is None:
            quality_bytes = quality.encode()
            tail = tails[quality] = struct.pack(">i", len(quality_bytes)) + quality_bytes + modified_bytes
        shape = (len(prefix), len(tail), record is None)
        packer = packers.get(shape)
        if packer is None:
            record_format = "i" if record is None else "ii"
            packer = packers[shape] = struct.Struct(f">{shape[0]}siqid{shape[1]}s{record_format}")
        micros = (ts - PG_EPOCH) // MICROSECOND  # inline: this loop runs once per reading
        if not MIN_TS_US <= micros <= MAX_TS_US:
            raise ValueError(f"timestamp {ts.isoformat()} is outside the years 1-9999 in UTC")
        if record is None:
            append(packer.pack(prefix, 8, micros, 8, value, tail, -1))
        else:
            append(packer.pack(prefix, 8, micros, 8, value, tail, 4, record))
    append(TRAILER)
    return b"".join(parts)


def _micros(ts: datetime) -> int:
    micros = (ts - PG_EPOCH) // MICROSECOND
    if not MIN_TS_US <= micros <= MAX_TS_US:
        raise ValueError(f"timestamp {ts.isoformat()} is outside the years 1-9999 in UTC")
    return micros


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    """``data`` as asyncpg's COPY source: an async iterable, so no executor thread reads a file object."""
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]
