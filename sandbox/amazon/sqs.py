"""A small Amazon SQS, where the emulator delivers its notifications (``notifications.py``).

It speaks SQS's JSON protocol (``POST`` with ``X-Amz-Target: AmazonSQS.<Action>``, as boto3
sends it), at ``<emulator>/sqs``; queue URLs are ``<emulator>/sqs/<account>/<name>`` and their
ARNs ``arn:aws:sqs:us-east-1:<account>:<name>``. Queues exist as soon as they are named (no
CreateQueue). Served: ReceiveMessage (long polling, visibility timeout, receive count),
DeleteMessage, DeleteMessageBatch, ChangeMessageVisibility, SendMessage, GetQueueUrl. Requests
must be SigV4-signed, but any credentials are accepted. Times are real time, as on AWS.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connections, transaction

from sandbox.amazon.models import AmazonQueueMessage

PREFIX = "/sqs"
REGION = "us-east-1"
DEFAULT_ACCOUNT = "000000000000"
DEFAULT_QUEUE = "keelson-order-changes"
ARN = re.compile(r"^arn:aws:sqs:(?P<region>[\w-]+):(?P<account>\d{12}):(?P<name>[\w-]{1,80})$")
QUEUE_PATH = re.compile(rf"^{PREFIX}/(?P<account>\d{{12}})/(?P<name>[\w-]{{1,80}})/?$")
DEFAULT_VISIBILITY = 30
MAX_WAIT = 20
POLL_INTERVAL = 0.5


class SqsError(Exception):
    def __init__(self, status: int, code: str, message: str, query_code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.query_code = query_code or code

    def body(self) -> dict[str, str]:
        return {"__type": f"com.amazonaws.sqs#{self.code}", "message": self.message}


def valid_arn(arn: str) -> bool:
    return bool(ARN.match(arn))


def queue_url(base_url: str, name: str = DEFAULT_QUEUE, account: str = DEFAULT_ACCOUNT) -> str:
    return f"{base_url.rstrip('/')}{PREFIX}/{account}/{name}"


def queue_arn(name: str = DEFAULT_QUEUE, account: str = DEFAULT_ACCOUNT) -> str:
    return f"arn:aws:sqs:{REGION}:{account}:{name}"


def arn_of_url(url: str) -> str:
    path = re.sub(r"^[a-z]+://[^/]+", "", url or "")
    match = QUEUE_PATH.match(path)
    if not match:
        raise SqsError(
            400,
            "QueueDoesNotExist",
            "The specified queue does not exist.",
            "AWS.SimpleQueueService.NonExistentQueue",
        )
    return queue_arn(match["name"], match["account"])


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def send_many(arn: str, bodies: list[str]) -> None:
    now = datetime.now(UTC)
    AmazonQueueMessage.objects.bulk_create(
        [
            AmazonQueueMessage(
                queue_arn=arn, message_id=str(uuid.uuid4()), body=b, sent_at=now, visible_at=now
            )
            for b in bodies
        ]
    )


def _receive_visible(arn: str, limit: int, visibility: int) -> list[AmazonQueueMessage]:
    now = datetime.now(UTC)
    with transaction.atomic():
        messages = list(
            AmazonQueueMessage.objects.select_for_update(skip_locked=True)
            .filter(queue_arn=arn, visible_at__lte=now)
            .order_by("sent_at", "id")[:limit]
        )
        for message in messages:
            message.receive_count += 1
            message.receipt_handle = secrets.token_urlsafe(32)
            message.visible_at = now + timedelta(seconds=visibility)
            message.save(update_fields=["receive_count", "receipt_handle", "visible_at"])
    return messages


def _int(data: dict, name: str, default: int, low: int, high: int) -> int:
    value = data.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise SqsError(
            400,
            "InvalidParameterValue",
            f"Value {value!r} for parameter {name} is invalid. Must be from {low} to {high}.",
        )
    return value


def receive_message(
    data: dict, dispatch, stopping: threading.Event | None = None
) -> dict[str, Any]:
    """ReceiveMessage: dispatch pending notifications, then wait up to WaitTimeSeconds."""
    arn = arn_of_url(data.get("QueueUrl", ""))
    limit = _int(data, "MaxNumberOfMessages", 1, 1, 10)
    wait = _int(data, "WaitTimeSeconds", 0, 0, MAX_WAIT)
    visibility = _int(data, "VisibilityTimeout", DEFAULT_VISIBILITY, 0, 43200)
    deadline = time.monotonic() + wait
    while True:
        dispatch(arn)
        messages = _receive_visible(arn, limit, visibility)
        if messages or time.monotonic() >= deadline or (stopping and stopping.is_set()):
            break
        # Long polling from a server thread: give the connection back while waiting.
        connections.close_all()
        time.sleep(min(POLL_INTERVAL, max(0.0, deadline - time.monotonic())))
    if not messages:
        return {}
    return {
        "Messages": [
            {
                "MessageId": m.message_id,
                "ReceiptHandle": m.receipt_handle,
                "MD5OfBody": md5(m.body),
                "Body": m.body,
                "Attributes": {
                    "ApproximateReceiveCount": str(m.receive_count),
                    "SentTimestamp": str(int(m.sent_at.timestamp() * 1000)),
                },
            }
            for m in messages
        ]
    }


def _delete(arn: str, handle: Any) -> bool:
    if not isinstance(handle, str) or not handle:
        return False
    AmazonQueueMessage.objects.filter(queue_arn=arn, receipt_handle=handle).delete()
    # SQS accepts a handle of a message already deleted; an unknown one is still an error.
    return True


def delete_message(data: dict) -> dict[str, Any]:
    arn = arn_of_url(data.get("QueueUrl", ""))
    if not _delete(arn, data.get("ReceiptHandle")):
        raise SqsError(
            400, "ReceiptHandleIsInvalid", "The input receipt handle is invalid.", "ReceiptHandle"
        )
    return {}


def delete_message_batch(data: dict) -> dict[str, Any]:
    arn = arn_of_url(data.get("QueueUrl", ""))
    entries = data.get("Entries")
    if not isinstance(entries, list) or not 1 <= len(entries) <= 10:
        raise SqsError(400, "EmptyBatchRequest", "There should be 1 to 10 entries.")
    successful, failed = [], []
    for entry in entries:
        entry_id = str((entry or {}).get("Id", ""))
        if _delete(arn, (entry or {}).get("ReceiptHandle")):
            successful.append({"Id": entry_id})
        else:
            failed.append(
                {
                    "Id": entry_id,
                    "SenderFault": True,
                    "Code": "ReceiptHandleIsInvalid",
                    "Message": "The input receipt handle is invalid.",
                }
            )
    return {"Successful": successful, "Failed": failed}


def change_message_visibility(data: dict) -> dict[str, Any]:
    arn = arn_of_url(data.get("QueueUrl", ""))
    seconds = _int(data, "VisibilityTimeout", 0, 0, 43200)
    updated = AmazonQueueMessage.objects.filter(
        queue_arn=arn, receipt_handle=str(data.get("ReceiptHandle") or "")
    ).update(visible_at=datetime.now(UTC) + timedelta(seconds=seconds))
    if not updated:
        raise SqsError(400, "ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
    return {}


def send_message(data: dict) -> dict[str, Any]:
    arn = arn_of_url(data.get("QueueUrl", ""))
    body = data.get("MessageBody")
    if not isinstance(body, str) or not body:
        raise SqsError(400, "MissingParameter", "The request must contain MessageBody.")
    message = AmazonQueueMessage.objects.create(
        queue_arn=arn,
        message_id=str(uuid.uuid4()),
        body=body,
        sent_at=datetime.now(UTC),
        visible_at=datetime.now(UTC),
    )
    return {"MessageId": message.message_id, "MD5OfMessageBody": md5(body)}


def get_queue_url(data: dict, base_url: str) -> dict[str, Any]:
    name = data.get("QueueName")
    if not isinstance(name, str) or not re.match(r"^[\w-]{1,80}$", name):
        raise SqsError(400, "QueueDoesNotExist", "The specified queue does not exist.")
    account = str(data.get("QueueOwnerAWSAccountId") or DEFAULT_ACCOUNT)
    return {"QueueUrl": queue_url(base_url, name, account)}


def handle(
    method: str,
    headers: dict[str, str],
    body: bytes,
    base_url: str,
    dispatch,
    *,
    stopping: threading.Event | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """One SQS request: (status, JSON body, extra headers)."""
    response_headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    try:
        if method != "POST":
            raise SqsError(400, "UnsupportedOperation", "SQS answers POST requests only.")
        if not headers.get("authorization", "").startswith("AWS4-HMAC-SHA256 "):
            raise SqsError(
                400, "MissingAuthenticationToken", "Request is missing Authentication Token"
            )
        target = headers.get("x-amz-target", "")
        action = target.removeprefix("AmazonSQS.")
        try:
            data = json.loads(body or b"{}")
        except ValueError as exc:
            raise SqsError(400, "InvalidParameterValue", "The request body is not JSON.") from exc
        if not isinstance(data, dict):
            raise SqsError(400, "InvalidParameterValue", "The request body must be an object.")
        actions = {
            "ReceiveMessage": lambda: receive_message(data, dispatch, stopping),
            "DeleteMessage": lambda: delete_message(data),
            "DeleteMessageBatch": lambda: delete_message_batch(data),
            "ChangeMessageVisibility": lambda: change_message_visibility(data),
            "SendMessage": lambda: send_message(data),
            "GetQueueUrl": lambda: get_queue_url(data, base_url),
        }
        if action not in actions:
            raise SqsError(400, "InvalidAction", f"The action {action or target!r} is not valid.")
        return 200, actions[action](), response_headers
    except SqsError as exc:
        response_headers["x-amzn-query-error"] = f"{exc.query_code};Sender"
        return exc.status, exc.body(), response_headers
