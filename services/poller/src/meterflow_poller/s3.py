"""S3 adapter: paginated listing and streaming reads (boto3 is synchronous: callers use threads)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import boto3
import ijson
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from meterflow_kit.backoff import MeterflowError

from meterflow_poller.config import Settings
from meterflow_poller.domain import Chunk, ObjectInfo, chunk_records

# Codes that no retry can fix: the operator must change a setting or a permission.
_CONFIG_ERRORS = {
    "AccessDenied": "access denied",
    "AllAccessDisabled": "access denied",
    "NoSuchBucket": "the bucket does not exist",
    "InvalidAccessKeyId": "the access key is not known",
    "SignatureDoesNotMatch": "the secret key does not match",
}


class S3Error(MeterflowError):
    """S3 failed; ``retriable`` is False when only a configuration change can help."""


class MalformedObject(MeterflowError):
    """The object is not JSON in the source format."""


class CountingReader:
    """Wraps a byte stream and counts what was read, so chunks can be bounded by source bytes."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.count += len(data)
        return data


class S3Source:
    def __init__(self, settings: Settings) -> None:
        self._bucket = settings.bucket
        self._prefixes = settings.prefixes
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.aws_access_key_id.get_secret_value(),
            aws_secret_access_key=settings.aws_secret_access_key.get_secret_value(),
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    def list_objects(self) -> list[ObjectInfo]:
        objects: list[ObjectInfo] = []
        paginator = self._client.get_paginator("list_objects_v2")
        with translate_errors(self._bucket):
            for prefix in self._prefixes:
                for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                    for item in page.get("Contents", []):
                        objects.append(ObjectInfo(item["Key"], item["ETag"].strip('"'), int(item["Size"])))
        return objects

    def iter_chunks(self, obj: ObjectInfo, max_records: int, max_bytes: int) -> Iterator[Chunk]:
        """Stream the object's ``data`` array in chunks; never holds the whole object in memory.
        The read is pinned to the listed ETag, so a concurrent overwrite cannot mix two versions."""
        with translate_errors(self._bucket):
            response = self._client.get_object(Bucket=self._bucket, Key=obj.key, IfMatch=obj.etag)
        reader = CountingReader(response["Body"])
        records = ijson.items(reader, "data.item", use_float=True)
        try:
            yield from chunk_records(records, lambda: reader.count, max_records, max_bytes)
        except ijson.JSONError as error:
            raise MalformedObject(f"not valid JSON at byte ~{reader.count}: {error}") from error
        except (BotoCoreError, ClientError) as error:
            raise S3Error(f"reading s3://{self._bucket}/{obj.key} failed: {error}", retriable=True) from error

    def ping(self) -> None:
        with translate_errors(self._bucket):
            self._client.head_bucket(Bucket=self._bucket)


@contextmanager
def translate_errors(bucket: str) -> Iterator[None]:
    """Turn botocore errors into S3Error with a message that says what to fix."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _CONFIG_ERRORS or code in {"403", "404"}:
            what = _CONFIG_ERRORS.get(code, "access denied or bucket missing")
            raise S3Error(
                f"S3 bucket {bucket!r}: {what} ({code}). Check POLLER_BUCKET, "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and S3_ENDPOINT_URL.",
                retriable=False,
            ) from error
        raise S3Error(f"S3 request failed ({code}): {error}", retriable=True) from error
    except BotoCoreError as error:
        raise S3Error(f"S3 unreachable: {error}", retriable=True) from error
