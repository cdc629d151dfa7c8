"""`meterflow demo-data`: write synthetic source files to a folder or straight into the S3 bucket."""

from __future__ import annotations

import argparse
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import structlog

from meterflow_cli.demo import Household, households, readings_count, records

log = structlog.get_logger("meterflow.cli")


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("demo-data", help="generate synthetic meter files in the source format")
    parser.add_argument("--meters", type=int, default=20, help="number of households (default 20)")
    parser.add_argument("--days", type=int, default=28, help="days of 15-minute readings (default 28)")
    parser.add_argument("--start", type=date.fromisoformat, default=date(2023, 2, 1), help="first day (UTC)")
    parser.add_argument("--seed", type=int, default=42, help="random seed; same seed, same files")
    parser.add_argument("--pv-share", type=float, default=0.2, help="share of households with PV export")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="write <muid>.json files into this folder")
    target.add_argument("--bucket", help="upload to this S3 bucket (S3_ENDPOINT_URL, AWS_* from env)")
    parser.add_argument("--prefix", default="challenge/", help="key prefix in the bucket")
    parser.set_defaults(func=run)


def render(house: Household, start: date, days: int, seed: int) -> bytes:
    """Minified JSON with no trailing newline, like the source bucket's objects."""
    data = list(records(house, start, days, seed))
    return json.dumps({"data": data}, separators=(",", ":")).encode()


def s3_client() -> Any:
    return boto3.client("s3", endpoint_url=os.environ.get("S3_ENDPOINT_URL", "http://127.0.0.1:9000"))


def run(args: argparse.Namespace) -> int:
    fleet = households(args.meters, args.seed, args.pv_share)
    client = s3_client() if args.bucket else None
    if client is not None:
        ensure_bucket(client, args.bucket)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    for house in fleet:
        body = render(house, args.start, args.days, args.seed)
        if client is not None:
            client.put_object(Bucket=args.bucket, Key=f"{args.prefix}{house.muid}.json", Body=body)
        else:
            (args.out / f"{house.muid}.json").write_bytes(body)
    total = sum(readings_count(h, args.days) for h in fleet)
    log.info("demo data written", meters=len(fleet), days=args.days, readings=total, target=args.bucket or args.out)
    return 0


def ensure_bucket(client: Any, bucket: str) -> None:
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if bucket not in existing:
        client.create_bucket(Bucket=bucket)
