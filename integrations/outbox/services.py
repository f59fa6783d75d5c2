"""Writing and delivering outbox messages."""

from __future__ import annotations

import logging
import random
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from integrations.outbox.errors import (
    DeferredDelivery,
    DeliveryError,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
    UnknownMessageKind,
)
from integrations.outbox.models import OutboxMessage, OutboxStatus
from integrations.outbox.registry import handler_for, outcome_listeners

logger = logging.getLogger(__name__)

# A claim lasts longer than any handler may take (Amazon back-off included); a killed worker's
# message is delivered again once its lease has expired (KEELSON_OUTBOX_LEASE_SECONDS).
LEASE = timedelta(minutes=5)


def lease() -> timedelta:
    seconds = getattr(settings, "KEELSON_OUTBOX_LEASE_SECONDS", None)
    return timedelta(seconds=float(seconds)) if seconds else LEASE


BACKOFF_BASE_SECONDS = 5.0
BACKOFF_MAX_SECONDS = 3600.0


def enqueue(
    *,
    merchant_id: int,
    kind: str,
    payload: dict,
    idempotency_key: str,
    order_id: int | None = None,
    deliver_after: datetime | None = None,
    max_attempts: int = 8,
) -> OutboxMessage:
    """Record an external effect in the caller's transaction; it is sent after commit.

    Enqueuing the same idempotency key twice returns the first message: a retried use case
    cannot cause the effect twice.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("enqueue() must run inside the transaction that changes the state")
    handler_for(kind)  # fail now, not in the worker, for an unknown kind
    message, created = OutboxMessage.objects.get_or_create(
        merchant_id=merchant_id,
        idempotency_key=idempotency_key,
        defaults={
            "kind": kind,
            "payload": payload,
            "order_id": order_id,
            "next_attempt_at": deliver_after or timezone.now(),
            "max_attempts": max_attempts,
        },
    )
    if created and deliver_after is None:
        transaction.on_commit(lambda: schedule_delivery(merchant_id, message.pk))
    return message


def schedule_delivery(merchant_id: int, message_id: int) -> None:
    """Ask a worker to deliver now. If this fails, the periodic sweep delivers it later."""
    from django_q.tasks import async_task

    try:
        async_task(
            "integrations.outbox.tasks.deliver_message",
            merchant_id,
            message_id,
            task_name=f"outbox-{message_id}-{uuid.uuid4().hex[:8]}",
        )
    except Exception:  # the broker being down must not fail the committed use case
        logger.exception("could not queue delivery of outbox message %s", message_id)


def backoff_delay(attempts: int, *, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter in the upper half: 5 s, 10 s, 20 s, … ≤ 1 h."""
    rng = rng or random.Random()
    ceiling = min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * (2 ** max(attempts - 1, 0)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def claim(*, limit: int = 50, message_id: int | None = None) -> tuple[list[int], uuid.UUID]:
    """Claim due messages of the merchants in scope (`SELECT … FOR UPDATE SKIP LOCKED`)."""
    now = timezone.now()
    token = OutboxMessage.new_lease_token()
    with transaction.atomic():
        due = OutboxMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        due = due.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        if message_id is not None:
            due = due.filter(pk=message_id)
        ids = list(
            due.select_for_update(skip_locked=True)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            # The attempt is counted when a message is sent (deliver_claimed), not here: a
            # worker killed with a batch in hand must not use up the attempts of messages it
            # never tried (after enough kills they would be parked as failed, never sent).
            OutboxMessage.objects.filter(pk__in=ids).update(
                lease_until=now + lease(), lease_token=token
            )
    return ids, token


def deliver_claimed(message_id: int, token: uuid.UUID) -> OutboxStatus:
    """Send one claimed message and record the outcome."""
    # Start the attempt: count it and renew the lease for this one message (the batch's lease
    # was taken when it was claimed, maybe several slow deliveries ago), if it is still ours.
    started = OutboxMessage.objects.filter(
        pk=message_id, lease_token=token, status=OutboxStatus.PENDING
    ).update(attempts=F("attempts") + 1, lease_until=timezone.now() + lease())
    message = OutboxMessage.objects.get(pk=message_id)
    if not started:
        return OutboxStatus(message.status)
    try:
        handler = handler_for(message.kind)
        result = handler.send(message)
    except UnknownMessageKind as exc:
        return _record_failure(message_id, token, PermanentDeliveryError(str(exc)))
    except DeliveryError as exc:
        return _record_failure(message_id, token, exc)
    except Exception as exc:  # an unexpected error is treated as transient, and logged
        logger.exception("outbox message %s (%s) raised", message_id, message.kind)
        error = TransientDeliveryError(f"{type(exc).__name__}: {exc}", code="unexpected_error")
        return _record_failure(message_id, token, error)
    return _record_success(message_id, token, result or {})


def deliver_due(*, limit: int = 50, message_id: int | None = None) -> int:
    """Claim and deliver due messages of the merchants in scope; returns how many were tried."""
    tried = 0
    while True:
        ids, token = claim(limit=limit, message_id=message_id)
        for mid in ids:
            deliver_claimed(mid, token)
        tried += len(ids)
        if len(ids) < limit or message_id is not None:
            return tried


@transaction.atomic
def _record_success(message_id: int, token: uuid.UUID, result: dict) -> OutboxStatus:
    message = OutboxMessage.objects.select_for_update().get(pk=message_id)
    if message.status == OutboxStatus.SENT:
        return OutboxStatus.SENT  # another worker (after our lease expired) got there first
    handler = handler_for(message.kind)
    message.status = OutboxStatus.SENT
    message.result = result
    message.sent_at = timezone.now()
    message.lease_until = None
    message.last_error = ""
    message.last_error_code = ""
    message.save(
        update_fields=[
            "status",
            "result",
            "sent_at",
            "lease_until",
            "last_error",
            "last_error_code",
            "updated_at",
        ]
    )
    if handler.on_sent:
        handler.on_sent(message, result)
    text = (
        handler.describe_sent(message, result)
        if handler.describe_sent
        else f"Sent to {handler.destination} ({message.kind}, attempt {message.attempts})."
    )
    _timeline(message, text, {"outcome": "sent", "result": result})
    return OutboxStatus.SENT


@transaction.atomic
def _record_failure(message_id: int, token: uuid.UUID, error: DeliveryError) -> OutboxStatus:
    message = OutboxMessage.objects.select_for_update().get(pk=message_id)
    if message.status != OutboxStatus.PENDING or message.lease_token != token:
        return OutboxStatus(message.status)
    message.last_error = error.message[:2000]
    message.last_error_code = error.code[:64]
    message.lease_until = None
    permanent = isinstance(error, PermanentDeliveryError)
    throttled = isinstance(error, ThrottledDeliveryError)
    if isinstance(error, DeferredDelivery):
        # Asked to come back later: not a failed attempt, and no backoff.
        message.attempts = max(message.attempts - 1, 0)
        message.next_attempt_at = timezone.now() + timedelta(seconds=max(error.retry_after, 0))
    elif permanent or (message.attempts >= message.max_attempts and not throttled):
        message.status = OutboxStatus.FAILED
    else:
        retry_after = getattr(error, "retry_after", None)
        delay = max(retry_after or 0.0, backoff_delay(message.attempts))
        message.next_attempt_at = timezone.now() + timedelta(seconds=delay)
        if throttled:
            message.attempts = max(message.attempts - 1, 0)  # not an attempt: see the error
    message.save(
        update_fields=[
            "attempts",
            "status",
            "last_error",
            "last_error_code",
            "lease_until",
            "next_attempt_at",
            "updated_at",
        ]
    )
    if message.status == OutboxStatus.FAILED:
        try:
            handler = handler_for(message.kind)
        except UnknownMessageKind:
            handler = None
        if handler and handler.on_failed:
            handler.on_failed(message, error)
        destination = handler.destination if handler else "partner"
        text = (
            handler.describe_failed(message, error)
            if handler and handler.describe_failed
            else f"Could not send to {destination} after {message.attempts} attempt(s): "
            f"{error.message}"
        )
        _timeline(message, text, {"outcome": "failed", "code": error.code})
    return OutboxStatus(message.status)


def _timeline(message: OutboxMessage, text: str | None, data: dict) -> None:
    """Tell the outcome to whoever acts on it (the order timeline, the Shopify mirror's pause:
    orders' listeners); ``text`` is empty when the handler wants no timeline entry."""
    for listener in outcome_listeners():
        listener(message, text or "", {"outbox_message": message.pk, "kind": message.kind, **data})


@transaction.atomic
def retry_message(*, message: OutboxMessage) -> OutboxMessage:
    """Send a failed message again (the portal's retry action). Idempotent."""
    locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
    if locked.status != OutboxStatus.FAILED:
        return locked
    locked.status = OutboxStatus.PENDING
    locked.max_attempts = locked.attempts + max(locked.max_attempts, 1)
    locked.next_attempt_at = timezone.now()
    locked.lease_until = None
    locked.save(
        update_fields=["status", "max_attempts", "next_attempt_at", "lease_until", "updated_at"]
    )
    transaction.on_commit(lambda: schedule_delivery(locked.merchant_id, locked.pk))
    return locked
