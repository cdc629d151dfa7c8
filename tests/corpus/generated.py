"""The corpus objects too big to commit, produced while they are uploaded (the poller tests' streaming
GeneratedDocument, with other records): one record over the raw message limit, and a 200 MB object.
tests/corpus/manifest.json describes them under "generated"."""

from __future__ import annotations

import base64
import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from integration.poller.poller_runs import GeneratedDocument

NAMESPACE = uuid.UUID("c0a9e5e1-7b5e-4c3a-9d1e-000000000012")
IMPORT = "0100011D00FF"
START = datetime(2023, 2, 1, tzinfo=UTC)
TIMES_OF_DAY = [f"{q // 4:02d}:{q % 4 * 15:02d}:00.000Z" for q in range(96)]
# Over every raw message limit on its own, whatever the chunking: the producer's request limit (4 MiB,
# before compression) and the topic's (after lz4, which cannot shrink random base64 text).
HUGE_TAG_BYTES = 5_000_000


def generated_muid(generator: str, index: int) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"{generator}/{index}")


def timestamp(index: int) -> str:
    day = (START + timedelta(days=index // 96)).date().isoformat()
    return f"{day}T{TIMES_OF_DAY[index % 96]}"


def huge_record_document() -> bytes:
    """Three good records of one meter around one record of 5 MB (a tag of random base64 text)."""
    meter = str(generated_muid("huge_record", 0))
    noise = base64.b64encode(random.Random(12).randbytes(HUGE_TAG_BYTES * 3 // 4)).decode()

    def record(index: int, **tags: Any) -> dict[str, Any]:
        return {"measurement": "energy", "timestamp": timestamp(index), "tags": {"muid": meter, **tags}, IMPORT: 0.5}

    records = [record(0), record(1, note=noise), record(2), record(3)]
    return json.dumps({"data": records}).encode()


class FleetDocument(GeneratedDocument):
    """``meters`` x ``per_meter`` 15-minute import records (meter-major), generated while read; the value
    of record i of a meter is i / 10,000 kWh, so every reading can be checked without holding the object."""

    def __init__(self, meters: int, per_meter: int) -> None:
        self.meters = meters
        self.per_meter = per_meter
        super().__init__(meters * per_meter)

    def _generate(self, block: int) -> Iterator[bytes]:
        yield b'{"data": ['
        first = True
        for m in range(self.meters):
            template = (
                '{"measurement": "energy", "timestamp": "%s", '
                f'"tags": {{"muid": "{generated_muid("object_200mb", m)}", "quality": "measured"}}, "{IMPORT}": %s}}'
            )
            for start in range(0, self.per_meter, block):
                stop = min(start + block, self.per_meter)
                text = ",".join(template % (timestamp(i), repr(i / 10_000)) for i in range(start, stop))
                yield (text if first else "," + text).encode()
                first = False
        yield b"]}"


def object_200mb() -> FleetDocument:
    return FleetDocument(meters=132, per_meter=9_000)
