"""The simple approach, as a baseline: one process that reads each source file with pandas and upserts its
readings with psycopg2's ``execute_values`` (ON CONFLICT DO UPDATE), one commit per file.

It is the kind of loader the original project used, written fairly: pandas flattens the records and melts
the OBIS columns into rows, psycopg2 sends multi-row INSERTs of ``--page-size`` rows, the key and the
upsert are the pipeline's own. No Kafka, no validation beyond what pandas and PostgreSQL do, no DLQ.

Run it (``bench/run.py`` does, on the same data as the pipeline):
    uv run python bench/simple_loader.py --dsn postgresql://... --bucket mf-bench-x [--prefix challenge/]
    uv run python bench/simple_loader.py --dsn postgresql://... --dir /path/with/json/files
It prints one JSON summary on stdout: files, rows, seconds, rows_per_s (reading included).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import pandas as pd
import psycopg2
import psycopg2.extras
from meterflow_obis import decode

UPSERT = """
INSERT INTO readings (muid, obis, ts, value, quality) VALUES %s
ON CONFLICT (muid, obis, ts) DO UPDATE
    SET value = EXCLUDED.value, quality = EXCLUDED.quality, ingested_at = now()
"""
TEMPLATE = "(%s::uuid, %s, %s::timestamptz, %s, %s)"
ENVELOPE = {"measurement", "timestamp", "tags.muid", "tags.quality"}


@cache
def obis_name(hex_code: str) -> str:
    """'0100011D00FF' -> '1-0:1.29.0*255', the form the readings table holds."""
    return decode(hex_code).obis


def frame_of(body: bytes) -> pd.DataFrame:
    """One source file as rows (muid, obis, ts, value, quality): one row per record and OBIS column."""
    wide = pd.json_normalize(json.loads(body)["data"])
    channels = [c for c in wide.columns if c not in ENVELOPE]
    long = wide.melt(
        id_vars=["timestamp", "tags.muid", "tags.quality"],
        value_vars=channels,
        var_name="obis_hex",
        value_name="value",
    ).dropna(subset=["value"])
    return pd.DataFrame(
        {
            "muid": long["tags.muid"],
            "obis": long["obis_hex"].map(obis_name),
            "ts": long["timestamp"],  # ISO 8601 with Z: PostgreSQL parses it as timestamptz
            "value": long["value"].astype(float),
            "quality": long["tags.quality"],
        }
    )


def upsert(conn: Any, frame: pd.DataFrame, page_size: int) -> int:
    rows = list(frame.itertuples(index=False, name=None))
    with conn.cursor() as cur:
        psycopg2.extras.execute_values(cur, UPSERT, rows, template=TEMPLATE, page_size=page_size)
    conn.commit()
    return len(rows)


def s3_bodies(endpoint: str | None, bucket: str, prefix: str) -> Iterator[tuple[str, bytes]]:
    client = boto3.client("s3", endpoint_url=endpoint)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"], client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()


def dir_bodies(folder: Path) -> Iterator[tuple[str, bytes]]:
    for path in sorted(folder.glob("*.json")):
        yield path.name, path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dsn", default=os.environ.get("DATABASE_URL"), help="target database (migrated)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--bucket", help="read every object under --prefix of this S3 bucket")
    source.add_argument("--dir", type=Path, help="read every *.json file of this folder")
    parser.add_argument("--prefix", default="", help="key prefix in the bucket")
    parser.add_argument("--s3-endpoint", default=os.environ.get("S3_ENDPOINT_URL", "http://127.0.0.1:9000"))
    parser.add_argument("--page-size", type=int, default=1_000, help="rows per INSERT statement (default 1000)")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("--dsn or DATABASE_URL is required")
    bodies = s3_bodies(args.s3_endpoint, args.bucket, args.prefix) if args.bucket else dir_bodies(args.dir)
    files = rows = 0
    started = time.perf_counter()
    with contextlib.closing(psycopg2.connect(args.dsn)) as conn:
        for _key, body in bodies:
            rows += upsert(conn, frame_of(body), args.page_size)
            files += 1
    seconds = time.perf_counter() - started
    summary = {
        "files": files,
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds) if seconds > 0 else None,
        "page_size": args.page_size,
        "source": f"s3://{args.bucket}/{args.prefix}" if args.bucket else str(args.dir),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
