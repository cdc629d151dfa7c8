"""SQS adapter: long-polls the queue that S3 notifies and deletes what was handled (boto3 is synchronous:
callers use threads)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from meterflow_poller.config import Settings
from meterflow_poller.errors import S3Error
from meterflow_poller.s3 import static_credentials

# Codes only a configuration change fixes.
_CONFIG_ERRORS = {
    "AWS.SimpleQueueService.NonExistentQueue": "the queue does not exist",
    "QueueDoesNotExist": "the queue does not exist",
    "AccessDenied": "access denied",
    "InvalidClientTokenId": "the access key is not known",
    "SignatureDoesNotMatch": "the secret key does not match",
}


@dataclass(frozen=True, slots=True)
class Message:
    receipt: str
    body: str
    receive_count: int


class SqsQueue:
    def __init__(self, settings: Settings) -> None:
        assert settings.notification_queue_url is not None
        self.url = settings.notification_queue_url
        access_key, secret_key = static_credentials(settings)
        self._client: Any = boto3.client(
            "sqs",
            endpoint_url=settings.sqs_endpoint_url or settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            # A long poll holds the request up to wait_s: the read timeout must outlast it.
            config=Config(
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=settings.notification_wait_s + 10,
            ),
        )
        self._wait_s = round(settings.notification_wait_s)
        self._visibility_s = settings.notification_visibility_s

    def receive(self, max_messages: int = 10) -> list[Message]:
        """Up to ``max_messages`` messages, waiting up to the long-poll time for the first; each stays
        invisible to other consumers for the visibility timeout, and comes back if not deleted by then."""
        with translate_errors(self.url):
            response = self._client.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=self._wait_s,
                VisibilityTimeout=self._visibility_s,
                AttributeNames=["ApproximateReceiveCount"],
            )
        return [
            Message(m["ReceiptHandle"], m["Body"], int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)))
            for m in response.get("Messages", [])
        ]

    def delete(self, messages: Sequence[Message]) -> None:
        """Delete handled messages (up to 10 per call, as SQS allows)."""
        for first in range(0, len(messages), 10):
            entries = [{"Id": str(i), "ReceiptHandle": m.receipt} for i, m in enumerate(messages[first : first + 10])]
            with translate_errors(self.url):
                self._client.delete_message_batch(QueueUrl=self.url, Entries=entries)


@contextmanager
def translate_errors(url: str) -> Iterator[None]:
    """Turn botocore errors into S3Error (the poller's source error) with a message that says what to fix."""
    try:
        yield
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _CONFIG_ERRORS:
            raise S3Error(
                f"SQS queue {url}: {_CONFIG_ERRORS[code]} ({code}). Check POLLER_NOTIFICATION_QUEUE_URL, "
                "the credentials and the queue policy.",
                retriable=False,
            ) from error
        raise S3Error(f"SQS request failed ({code or 'no code'}): {error}", retriable=True) from error
    except BotoCoreError as error:
        raise S3Error(f"SQS unreachable: {error}", retriable=True) from error
