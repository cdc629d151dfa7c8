"""S3 adapter: paginated listing and streaming reads (boto3 is synchronous: callers use threads)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
from meterflow_contracts import DlqReason

from meterflow_poller.config import Settings
from meterflow_poller.domain import ObjectInfo
from meterflow_poller.errors import MalformedObject, ObjectGone, ObjectUnreadable, S3Error
from meterflow_poller.parsing import Piece, shape_problem, source_chunks, whole_document_chunks

# Codes that no retry can fix: the operator must change a setting or a permission.
_CONFIG_ERRORS = {
    "AccessDenied": "access denied",
    "AllAccessDisabled": "access denied",
    "403": "access denied",
    "NoSuchBucket": "the bucket does not exist",
    "404": "the bucket does not exist",
    "InvalidAccessKeyId": "the access key is not known",
    "SignatureDoesNotMatch": "the secret key does not match",
    "InvalidBucketName": "the bucket name is not valid",
    "PermanentRedirect": "the bucket is in another region",
    "AuthorizationHeaderMalformed": "the region does not match the bucket's",
}
# The object changed or vanished between listing and reading: the next poll sees its new state.
_GONE = {"NoSuchKey", "PreconditionFailed", "412"}
# Reading one object was refused while listing the bucket worked: an object ACL, a bucket policy on some
# keys, an encryption key the poller may not use. That object is skipped; the others are polled.
_DENIED = {"AccessDenied", "403"}


def static_credentials(settings: Settings) -> tuple[str | None, str | None]:
    """The key pair of the settings when both are set; otherwise (None, None), and boto3's own chain finds
    the credentials (AWS_PROFILE, web identity / IRSA, container or instance roles)."""
    if settings.aws_access_key_id is None or settings.aws_secret_access_key is None:
        return None, None
    return settings.aws_access_key_id.get_secret_value(), settings.aws_secret_access_key.get_secret_value()


class S3Source:
    def __init__(self, settings: Settings) -> None:
        access_key, secret_key = static_credentials(settings)
        self._bucket = settings.bucket
        self._prefixes = settings.prefixes
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            # botocore retries a request a little (throttling included); the poller's own backoff
            # between polls handles longer outages.
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60),
        )

    @property
    def bucket(self) -> str:
        return self._bucket

    def list_pages(self) -> Generator[list[ObjectInfo]]:
        """Every object under the configured prefixes, one ListObjectsV2 page (up to 1000) at a time."""
        paginator = self._client.get_paginator("list_objects_v2")
        for prefix in self._prefixes:
            pages = iter(paginator.paginate(Bucket=self._bucket, Prefix=prefix))
            while True:
                with translate_errors(self._bucket):
                    page = next(pages, None)
                if page is None:
                    break
                yield [
                    ObjectInfo(item["Key"], item["ETag"].strip('"'), int(item["Size"]), item.get("LastModified"))
                    for item in page.get("Contents", [])
                ]

    def iter_chunks(self, obj: ObjectInfo, max_records: int, max_bytes: int, whole_below: int = 0) -> Generator[Piece]:
        """Stream the object's ``data`` array in chunks (and the records rejected on the way); never
        holds the whole object in memory.

        The read is pinned to the listed ETag, so a concurrent overwrite cannot mix two versions. Raises
        MalformedObject after the last good chunk when the object turns out not to be valid JSON, or
        before any chunk when it is JSON of another shape than ``{"data": [...]}``.
        """
        if obj.size <= whole_below:
            # Small objects (the common case) are read whole: bounded by whole_below, and far faster.
            body = self._open(obj)
            try:
                with translate_errors(self._bucket, obj.key):
                    fast = whole_document_chunks(body.read(), max_records, max_bytes)
            finally:
                body.close()
            if fast is not None:
                yield from fast
                return
        pieces = 0
        try:
            for piece in self._stream(obj, max_records, max_bytes):
                pieces += 1
                yield piece
        except MalformedObject as fault:
            if not fault.number_overflow:
                raise
            # The fast parser stopped at a number no double holds: the tolerant one reads on from there.
            for piece in self._stream(obj, max_records, max_bytes, resume_at=fault.records_before):
                pieces += 1
                yield piece
        if pieces == 0:
            # Valid JSON without records: {"data": []} is fine, any other shape is not the source format.
            body = self._open(obj)
            try:
                with translate_errors(self._bucket, obj.key):
                    problem = shape_problem(body)
            finally:
                body.close()
            if problem is not None:
                raise MalformedObject(DlqReason.INVALID_SHAPE, problem, records_before=0, byte_offset=0)

    def _stream(
        self, obj: ObjectInfo, max_records: int, max_bytes: int, resume_at: int | None = None
    ) -> Generator[Piece]:
        body = self._open(obj)
        try:
            with translate_errors(self._bucket, obj.key):
                yield from source_chunks(body, max_records, max_bytes, resume_at)
        finally:
            body.close()

    def _open(self, obj: ObjectInfo) -> BinaryIO:
        with translate_errors(self._bucket, obj.key):
            response = self._client.get_object(Bucket=self._bucket, Key=obj.key, IfMatch=obj.etag)
        body: BinaryIO = response["Body"]
        return body

    def head(self, key: str) -> ObjectInfo | None:
        """The object's current version, or None when it does not exist (any more)."""
        with translate_errors(self._bucket, key):
            try:
                response = self._client.head_object(Bucket=self._bucket, Key=key)
            except ClientError as error:
                # HEAD has no body, so a missing key is a bare 404 (which a listing would mean as no bucket).
                if str(error.response.get("Error", {}).get("Code", "")) in {"404", "NoSuchKey"}:
                    return None
                raise
        return ObjectInfo(
            key, response["ETag"].strip('"'), int(response["ContentLength"]), response.get("LastModified")
        )

    def ping(self) -> None:
        with translate_errors(self._bucket):
            self._client.head_bucket(Bucket=self._bucket)


@contextmanager
def translate_errors(bucket: str, key: str | None = None) -> Iterator[None]:
    """Turn botocore errors into S3Error with a message that says what to fix."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if key is not None and code in _GONE:
            raise ObjectGone(f"s3://{bucket}/{key} changed or vanished since it was listed ({code})") from error
        if key is not None and code in _DENIED:
            raise ObjectUnreadable(
                f"s3://{bucket}/{key}: reading it was refused ({code}) although the bucket lists; check the "
                "object's ACL, the bucket policy and, for encrypted objects, the poller's access to the key"
            ) from error
        if code in _CONFIG_ERRORS:
            raise S3Error(
                f"S3 bucket {bucket!r}: {_CONFIG_ERRORS[code]} ({code}). Check POLLER_BUCKET, "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, S3_ENDPOINT_URL and AWS_DEFAULT_REGION.",
                retriable=False,
            ) from error
        raise S3Error(f"S3 request failed ({code or 'no code'}): {error}", retriable=True) from error
    except NoCredentialsError as error:
        raise S3Error(
            f"S3 bucket {bucket!r}: no credentials found. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or their "
            "*_FILE), AWS_PROFILE, or a web identity / instance role (docs/security.md).",
            retriable=False,
        ) from error
    except BotoCoreError as error:
        raise S3Error(f"S3 unreachable: {error}", retriable=True) from error
