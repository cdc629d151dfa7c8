"""PostgreSQL binary COPY encoding of readings rows, done by us rather than by the driver.

asyncpg's ``copy_records_to_table`` encodes every field of every row generically, and in the benchmark it
was the largest share of the writer's own CPU. Rows come in runs that share the meter, the channel and
usually the quality, so here each run's fixed bytes are built once, and a row costs one timestamp
subtraction and one ``struct.pack``. The batcher encodes a batch while the loader writes the previous
one, which takes the encoding off the critical path too.

Format (PostgreSQL docs, "COPY ... BINARY"): the signature ``PGCOPY\\n\\377\\r\\n\\0``, int32 flags, int32
header extension length; per row an int16 field count and, per field, an int32 length and the field's
binary ``send`` form: uuid = 16 bytes, text = UTF-8, timestamptz = int64 microseconds since
2000-01-01 00:00 UTC, float8 = IEEE 754 big-endian; at the end an int16 -1.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta

from meterflow_writer.domain import Row

COLUMNS = ("muid", "obis", "ts", "value", "quality")
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Timestamps Python can read back (asyncpg decodes to datetime): a reading outside them would be stored
# but break every reader, so it is refused like any value the database rejects.
MIN_TS_US = (datetime.min.replace(tzinfo=UTC) - PG_EPOCH) // MICROSECOND
MAX_TS_US = (datetime.max.replace(tzinfo=UTC) - PG_EPOCH) // MICROSECOND
_PREFIX = struct.Struct(">hi16si")  # field count, uuid length, uuid, obis length (obis bytes follow)
CHUNK_BYTES = 1 << 20


def encode_rows(rows: Iterable[Row]) -> bytes:
    """The binary COPY stream of ``rows`` (columns COLUMNS). Raises ValueError for a value PostgreSQL
    would store but Python could not read back, or text that is not encodable as UTF-8."""
    parts = [HEADER]
    append = parts.append
    last_muid = last_obis = None
    prefix = b""
    qualities: dict[str, bytes] = {}
    packers: dict[tuple[int, int], struct.Struct] = {}
    for muid, obis, ts, value, quality in rows:
        if muid is not last_muid or obis is not last_obis:
            obis_bytes = obis.encode()
            prefix = _PREFIX.pack(5, 16, muid.bytes, len(obis_bytes)) + obis_bytes
            last_muid, last_obis = muid, obis
        quality_bytes = qualities.get(quality)
        if quality_bytes is None:
            quality_bytes = qualities[quality] = quality.encode()
        shape = (len(prefix), len(quality_bytes))
        packer = packers.get(shape)
        if packer is None:
            packer = packers[shape] = struct.Struct(f">{shape[0]}siqidi{shape[1]}s")
        micros = (ts - PG_EPOCH) // MICROSECOND
        if not MIN_TS_US <= micros <= MAX_TS_US:
            raise ValueError(f"timestamp {ts.isoformat()} is outside the years 1-9999 in UTC")
        append(packer.pack(prefix, 8, micros, 8, value, shape[1], quality_bytes))
    append(TRAILER)
    return b"".join(parts)


async def chunks(data: bytes) -> AsyncIterator[bytes]:
    """``data`` as asyncpg's COPY source: an async iterable, so no executor thread reads a file object."""
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]
