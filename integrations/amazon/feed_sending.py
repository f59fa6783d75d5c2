"""Sending a sealed feed batch and following it (integrations/amazon/feed_batches.py tells
the whole story): one worker at a time (a lease on the row) builds and validates the document,
uploads it and creates the feed, each step recorded at once; getFeed; the report read once for
the batch and each member's lines stored; the members' messages made due."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from integrations.amazon import feed_documents
from integrations.amazon.feed_reports import ParsedReport, parse_report
from integrations.amazon.gateway import AmazonGateway, FeedStatus
from integrations.models import AmazonFeedBatch
from integrations.models import AmazonFeedBatchStatus as Status
from integrations.outbox import services as outbox_services
from integrations.outbox.models import OutboxMessage, OutboxStatus

# A worker sending a batch owns it as long as it owns the message it delivers (the outbox's
# lease, KEELSON_OUTBOX_LEASE_SECONDS: longer than any delivery may take); a killed sender
# holds the batch up no longer than its message. A worker following a submitted batch
# (getFeed, then the report) owns it a minute at most: reading twice is harmless (the first
# record wins, under the row lock), so the lease only spares Amazon's rate limits the other
# members' calls.
FOLLOW_LEASE = timedelta(seconds=60)
# How long one delivery watches a feed before handing its worker back, how often it asks, and
# when the next look at a feed Amazon is still processing comes (KEELSON_FEED_WAIT_SECONDS,
# KEELSON_FEED_RETRY_SECONDS).
FEED_WAIT_SECONDS = 10.0
FEED_POLL_INTERVAL = 1.0
FEED_RETRY_SECONDS = 30.0


class BatchDocumentInvalid(Exception):
    """The batch's document breaks Amazon's schema (a bug): nothing was sent."""

    def __init__(self, error: feed_documents.InvalidFeedDocument) -> None:
        super().__init__(str(error))
        self.errors = error.errors


def take_lease(batch_id: int) -> uuid.UUID | None:
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        batch = AmazonFeedBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != Status.SEALED:
            return token  # nothing to send: the caller just reads on
        if batch.lease_until is not None and batch.lease_until > now:
            return None
        batch.lease_until = now + outbox_services.lease()
        batch.lease_token = token
        batch.save(update_fields=["lease_until", "lease_token"])
    return token


def release_lease(batch_id: int, token: uuid.UUID) -> None:
    AmazonFeedBatch.objects.filter(pk=batch_id, lease_token=token).update(
        lease_until=None, lease_token=None
    )


def document_for(batch: AmazonFeedBatch, seller_id: str) -> bytes:
    members = batch.members.order_by("message_id").values_list("message_id", "body")
    return feed_documents.envelope(
        seller_id,
        batch.message_type,
        [feed_documents.FeedMessage(message_id, body) for message_id, body in members],
    )


def submit(batch_id: int, gateway: AmazonGateway, seller_id: str) -> AmazonFeedBatch:
    """createFeedDocument + upload, then createFeed, each recorded at once (lease held)."""
    batch = AmazonFeedBatch.objects.get(pk=batch_id)
    if batch.status != Status.SEALED:
        return batch
    if batch.document is None:
        content = document_for(batch, seller_id)
        try:
            feed_documents.validate(content)
        except feed_documents.InvalidFeedDocument as exc:
            AmazonFeedBatch.objects.filter(pk=batch.pk).update(
                status=Status.FAILED,
                failure=f"invalid feed document (nothing was sent): {exc}"[:4000],
                finished_at=timezone.now(),
            )
            wake_members(batch)
            raise BatchDocumentInvalid(exc) from exc
        batch.document = content
        AmazonFeedBatch.objects.filter(pk=batch.pk).update(document=content)
    if not batch.document_id:
        batch.document_id = gateway.create_feed_document(
            bytes(batch.document), feed_documents.CONTENT_TYPE
        )
        AmazonFeedBatch.objects.filter(pk=batch.pk).update(document_id=batch.document_id)
    now = timezone.now()
    AmazonFeedBatch.objects.filter(pk=batch.pk, create_feed_attempted_at__isnull=True).update(
        create_feed_attempted_at=now
    )
    AmazonFeedBatch.objects.filter(pk=batch.pk).update(
        create_feed_calls=batch.create_feed_calls + 1
    )
    feed_id = gateway.create_feed(batch.feed_type, batch.document_id, [batch.marketplace_id])
    AmazonFeedBatch.objects.filter(pk=batch.pk).update(
        feed_id=feed_id,
        status=Status.SUBMITTED,
        submitted_at=timezone.now(),
        processing_status="IN_QUEUE",
    )
    return AmazonFeedBatch.objects.get(pk=batch.pk)


@dataclass
class Followed:
    """What ``follow`` found: the batch, and whether another worker follows it right now
    (then come back after ``wait`` seconds, when its lease ends; it wakes the members sooner
    if it records the report)."""

    batch: AmazonFeedBatch
    elsewhere: bool = False
    wait: float = 0.0


def follow(batch: AmazonFeedBatch, gateway: AmazonGateway) -> Followed:
    """One worker at a time follows a submitted batch (a lease on the row): getFeed for a few
    seconds; once Amazon is done, the report is read once for all and the members are woken.
    While Amazon is still processing, the follower keeps the lease until the next look is due
    (``KEELSON_FEED_RETRY_SECONDS``), so a batch of a thousand members costs one getFeed per
    interval, not one per member."""
    token = _take_follow_lease(batch.pk)
    if token is None:
        batch.refresh_from_db()
        if batch.status != Status.SUBMITTED:
            return Followed(batch)
        left = (batch.lease_until - timezone.now()).total_seconds() if batch.lease_until else 0
        return Followed(batch, elsewhere=True, wait=max(left, 0.0))
    next_look = None
    try:
        status = watch(gateway, batch.feed_id)
        if not status.finished:
            next_look = timezone.now() + timedelta(seconds=retry_seconds())
            AmazonFeedBatch.objects.filter(
                pk=batch.pk, status=Status.SUBMITTED, lease_token=token
            ).update(processing_status=status.processing_status, lease_until=next_look)
            batch.processing_status = status.processing_status
            return Followed(batch)
        text = (
            gateway.get_feed_document(status.result_document_id)
            if status.result_document_id
            else ""
        )
        report = parse_report(text) if text else None
        _record_report(batch.pk, status, report)
    finally:
        if next_look is None:
            release_lease(batch.pk, token)
    return Followed(AmazonFeedBatch.objects.get(pk=batch.pk))


def retry_seconds() -> float:
    """How long after a look at a feed Amazon is still processing the next one comes."""
    return max(float(getattr(settings, "KEELSON_FEED_RETRY_SECONDS", FEED_RETRY_SECONDS)), 0.0)


def _take_follow_lease(batch_id: int) -> uuid.UUID | None:
    now = timezone.now()
    token = uuid.uuid4()
    updated = (
        AmazonFeedBatch.objects.filter(pk=batch_id, status=Status.SUBMITTED)
        .exclude(lease_until__gt=now)
        .update(lease_until=now + min(FOLLOW_LEASE, outbox_services.lease()), lease_token=token)
    )
    return token if updated else None


def watch(gateway: AmazonGateway, feed_id: str) -> FeedStatus:
    """getFeed every second until Amazon is done, for up to KEELSON_FEED_WAIT_SECONDS."""
    wait = float(getattr(settings, "KEELSON_FEED_WAIT_SECONDS", FEED_WAIT_SECONDS))
    deadline = time.monotonic() + wait
    while True:
        status = gateway.get_feed(feed_id)
        if status.finished or time.monotonic() + FEED_POLL_INTERVAL > deadline:
            return status
        time.sleep(FEED_POLL_INTERVAL)


@transaction.atomic
def _record_report(batch_id: int, status: FeedStatus, report: ParsedReport | None) -> None:
    batch = AmazonFeedBatch.objects.select_for_update().get(pk=batch_id)
    if batch.status != Status.SUBMITTED:
        return
    batch.processing_status = status.processing_status
    batch.result_document_id = status.result_document_id or ""
    batch.finished_at = timezone.now()
    batch.report = report.summary() if report else None
    if status.processing_status != "DONE" or report is None:
        batch.status = Status.FAILED
        detail = ""
        if report is not None and report.results:
            detail = ": " + report.results[0]["description"]
        batch.failure = f"Amazon could not process the feed ({status.processing_status}){detail}"
    else:
        batch.status = Status.DONE
        for member in batch.members.all():
            member.result = report.for_message(member.message_id)
            member.save(update_fields=["result"])
    batch.save()
    wake_members(batch)


def wake_members(batch: AmazonFeedBatch) -> None:
    """The feed is settled: every member's message is due now and asked for at once, rather
    than at its next retry (a waiting or polling member would find the answer there anyway)."""
    ids = list(
        OutboxMessage.objects.filter(
            feed_member__batch=batch, status=OutboxStatus.PENDING
        ).values_list("pk", flat=True)
    )
    if not ids:
        return
    OutboxMessage.objects.filter(pk__in=ids).update(next_attempt_at=timezone.now())
    merchant_id = batch.merchant_id
    transaction.on_commit(
        lambda: [outbox_services.schedule_delivery(merchant_id, pk) for pk in ids]
    )
