"""The SQS queue Amazon delivers our SP-API notifications to (ORDER_CHANGE), read with boto3.

One queue serves the whole application: every connected seller's subscription points at it
(``AmazonGateway.ensure_subscription``). Configured by ``KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL``
(empty: no notifications, the sync polls only). The queue URL says everything else:

- ``https://sqs.<region>.amazonaws.com/<account>/<name>``: AWS, the endpoint and region from
  the host; credentials from ``KEELSON_AMAZON_SQS_ACCESS_KEY_ID`` / ``..._SECRET_ACCESS_KEY``,
  else boto3's own chain (environment, instance role);
- ``http://127.0.0.1:<port>/sqs/<account>/<name>``: the Amazon emulator's SQS
  (``sandbox/amazon/sqs.py``), the endpoint being the URL without its last two segments.

The queue's ARN (for Amazon's destination) is ``arn:aws:sqs:<region>:<account>:<name>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from integrations.amazon.gateway import AmazonTransientError

AWS_HOST = re.compile(r"^sqs\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
DEFAULT_REGION = "us-east-1"
MAX_WAIT_SECONDS = 20  # SQS's longest long poll


@dataclass(frozen=True)
class QueueAddress:
    url: str
    endpoint: str
    region: str
    arn: str


def address(queue_url: str) -> QueueAddress:
    parts = urlsplit(queue_url)
    segments = [s for s in parts.path.split("/") if s]
    if parts.scheme not in ("http", "https") or len(segments) < 2:
        raise ValueError(f"not an SQS queue URL: {queue_url!r}")
    account, name = segments[-2], segments[-1]
    if not re.fullmatch(r"\d{12}", account) or not re.fullmatch(r"[\w-]{1,80}(\.fifo)?", name):
        raise ValueError(f"not an SQS queue URL: {queue_url!r}")
    host = AWS_HOST.match(parts.hostname or "")
    region = host["region"] if host else DEFAULT_REGION
    prefix = "/".join(segments[:-2])
    endpoint = f"{parts.scheme}://{parts.netloc}" + (f"/{prefix}" if prefix else "")
    return QueueAddress(queue_url, endpoint, region, f"arn:aws:sqs:{region}:{account}:{name}")


def configured_queue_url() -> str:
    return getattr(settings, "KEELSON_AMAZON_NOTIFICATIONS_QUEUE_URL", "") or ""


@dataclass(frozen=True)
class QueueMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int


class NotificationQueue:
    """Long-polling reads and deletes on one SQS queue; errors become ``AmazonTransientError``."""

    def __init__(self, queue_url: str, *, timeout: float = 30.0) -> None:
        self.address = address(queue_url)
        key_id = getattr(settings, "KEELSON_AMAZON_SQS_ACCESS_KEY_ID", "") or None
        secret = getattr(settings, "KEELSON_AMAZON_SQS_SECRET_ACCESS_KEY", "") or None
        # Imported here: boto3 and botocore's config take 0.25 s to import, which every web
        # and manage.py process would pay at start-up for a client only the receiver uses.
        import boto3
        from botocore.config import Config

        self._client = boto3.session.Session().client(
            "sqs",
            endpoint_url=self.address.endpoint,
            region_name=self.address.region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
            config=Config(
                read_timeout=MAX_WAIT_SECONDS + timeout,
                connect_timeout=timeout,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    @property
    def arn(self) -> str:
        return self.address.arn

    def receive(
        self, *, wait_seconds: int, max_messages: int = 10, visibility_timeout: int = 120
    ) -> list[QueueMessage]:
        """Up to ``max_messages``, waiting at most ``wait_seconds`` (0-20) for the first.

        A message not deleted within ``visibility_timeout`` seconds is delivered again."""
        try:
            answer = self._client.receive_message(
                QueueUrl=self.address.url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=max(0, min(MAX_WAIT_SECONDS, int(wait_seconds))),
                VisibilityTimeout=visibility_timeout,
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except (BotoCoreError, ClientError) as exc:
            raise AmazonTransientError(f"SQS ReceiveMessage: {exc}") from exc
        return [
            QueueMessage(
                message_id=m["MessageId"],
                receipt_handle=m["ReceiptHandle"],
                body=m.get("Body", ""),
                receive_count=int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 1)),
            )
            for m in answer.get("Messages", [])
        ]

    def delete(self, messages: list[QueueMessage]) -> None:
        for start in range(0, len(messages), 10):
            batch = messages[start : start + 10]
            try:
                answer = self._client.delete_message_batch(
                    QueueUrl=self.address.url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m.receipt_handle}
                        for i, m in enumerate(batch)
                    ],
                )
            except (BotoCoreError, ClientError) as exc:
                raise AmazonTransientError(f"SQS DeleteMessageBatch: {exc}") from exc
            if answer.get("Failed"):
                # Redelivered later and handled again: the upsert is idempotent.
                raise AmazonTransientError(f"SQS DeleteMessageBatch failed: {answer['Failed']}")

    def close(self) -> None:
        self._client.close()
