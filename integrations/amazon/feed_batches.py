"""Amazon feeds shared by many outbox messages: the pending messages of one Amazon account,
feed type and marketplace go to Amazon as ONE feed (createFeedDocument, the upload and
createFeed once per batch instead of once per message). See docs/amazon-feeds.md.

How a message travels (its outbox handler calls ``join`` and then ``advance`` on every
attempt; the handler owns the domain, this module only the feed):

1. ``join``: in one transaction, the message becomes a member of the key's open batch (made
   when there is none), with the next MessageID. An outbox message is in one batch at most
   (a unique constraint); joining again returns its membership.
2. The batch is sealed, in one transaction, when it is full (``max_messages`` or
   ``max_bytes``), when its oldest member has waited ``wait_seconds``, or at once when no
   other message of the key is due in the outbox AND the key sent no feed within the last
   ``wait_seconds`` (a lone refund on a quiet account does not wait; a busy account sends at
   most one feed per wait, plus the full ones). Until then ``advance`` answers ``waiting``
   and the outbox asks again when the batch is due (``DeferredDelivery``, not counted as an
   attempt); a batch sealed earlier wakes its members once Amazon has answered.
3. A sealed batch is sent by one worker at a time (a lease on the row): the document is built
   from the members, validated against Amazon's XSDs and stored; then createFeedDocument and
   the upload (the document id is stored), ``create_feed_attempted_at`` is stored, createFeed
   (the feed id is stored). A retry after a crash resumes where the row says: the same
   document, the same MessageIDs and MerchantAdjustmentItemIDs; never a second batch.
4. getFeed until Amazon is done; then the processing report is read ONCE for the batch and
   every member gets its own lines (by MessageID); the members' messages are made due at once
   and each handler settles its own refund or cancellation.

A member whose message must not go (R8: the account is no longer connected) leaves the batch
with ``leave`` as long as createFeed was not attempted; after that it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from integrations.amazon import feed_sending
from integrations.amazon.feed_reports import MalformedReport
from integrations.amazon.feed_sending import BatchDocumentInvalid, retry_seconds, watch
from integrations.amazon.gateway import AmazonGateway
from integrations.models import AmazonFeedBatch, AmazonFeedMessage
from integrations.models import AmazonFeedBatchStatus as Status
from integrations.outbox.models import OutboxMessage, OutboxStatus

__all__ = [
    "BatchDocumentInvalid",
    "BatchKey",
    "Limits",
    "MalformedReport",
    "Outcome",
    "advance",
    "join",
    "leave",
    "member_for",
    "retry_seconds",
    "was_sent",
    "watch",
]

# Defaults of the settings (portal/settings.py documents them).
MAX_MESSAGES = 1000
MAX_BYTES = 5_000_000
WAIT_SECONDS = 60.0
# How soon a member asks again while another worker is sending its batch.
WAIT_STEP_SECONDS = 2.0


@dataclass(frozen=True)
class Limits:
    max_messages: int
    max_bytes: int
    wait_seconds: float

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_messages=max(
                int(getattr(settings, "KEELSON_FEED_BATCH_MAX_MESSAGES", MAX_MESSAGES)), 1
            ),
            max_bytes=max(int(getattr(settings, "KEELSON_FEED_BATCH_MAX_BYTES", MAX_BYTES)), 1),
            wait_seconds=max(
                float(getattr(settings, "KEELSON_FEED_BATCH_WAIT_SECONDS", WAIT_SECONDS)), 0.0
            ),
        )


@dataclass(frozen=True)
class BatchKey:
    """What one feed may carry: one account, one feed type (and its message type), one
    marketplace (createFeed names the marketplaces its messages belong to)."""

    account_id: int
    feed_type: str
    message_type: str
    marketplace_id: str

    @property
    def hint(self) -> str:
        """Stored in each message's outbox payload (``feed_batch``), so a batch can tell
        whether companions are on their way."""
        return f"{self.account_id}:{self.feed_type}:{self.marketplace_id}"


@dataclass(frozen=True)
class ReportLine:
    result_code: str  # Error or Warning
    message_code: str
    description: str


@dataclass
class Outcome:
    """Where a member's message stands after ``advance``.

    - ``waiting``: not sent yet (collecting companions, or another worker is sending it);
    - ``processing``: Amazon has the feed and is not done (``processing_status``), or another
      worker is following it (``detail``); look again after ``retry_after``;
    - ``done``: Amazon processed the feed; ``errors``/``warnings`` are this message's lines
      of the report (no error: accepted);
    - ``failed``: Amazon did not process the feed (FATAL, CANCELLED), ``detail`` says why.
    """

    state: str
    feed_id: str = ""
    document_id: str = ""
    processing_status: str = ""
    retry_after: float = 0.0
    detail: str = ""
    message_id: int = 0
    errors: list[ReportLine] = field(default_factory=list)
    warnings: list[ReportLine] = field(default_factory=list)
    report: dict | None = None  # this message's slice of the report (stored on the domain row)
    submitted_now: bool = False


# --- membership -------------------------------------------------------------------------------


def member_for(message: OutboxMessage) -> AmazonFeedMessage | None:
    return (
        AmazonFeedMessage.objects.filter(outbox_message_id=message.pk)
        .select_related("batch")
        .first()
    )


def was_sent(message: OutboxMessage | int) -> bool:
    """Whether the message may have reached Amazon (createFeed was attempted for its batch)."""
    message_id = message if isinstance(message, int) else message.pk
    return AmazonFeedMessage.objects.filter(
        outbox_message_id=message_id, batch__create_feed_attempted_at__isnull=False
    ).exists()


@transaction.atomic
def join(
    message: OutboxMessage, key: BatchKey, body: str, *, limits: Limits | None = None
) -> AmazonFeedMessage:
    """Make ``message`` a member of the key's open batch (idempotent)."""
    limits = limits or Limits.from_settings()
    existing = member_for(message)
    if existing is not None:
        return existing
    size = len(body.encode("utf-8"))
    batch = _open_batch(message.merchant_id, key, limits)
    if batch.message_count >= limits.max_messages or (
        batch.message_count and batch.byte_size + size > limits.max_bytes
    ):
        _seal(batch)
        batch = _open_batch(message.merchant_id, key, limits)
    last = batch.members.aggregate(last=Max("message_id"))["last"] or 0
    member = AmazonFeedMessage.objects.create(
        merchant_id=message.merchant_id,
        batch=batch,
        outbox_message=message,
        message_id=last + 1,
        body=body,
    )
    batch.message_count += 1
    batch.byte_size += size
    batch.save(update_fields=["message_count", "byte_size"])
    if batch.message_count >= limits.max_messages or batch.byte_size >= limits.max_bytes:
        _seal(batch)
    member.batch = batch
    return member


def _open_batch(merchant_id: int, key: BatchKey, limits: Limits) -> AmazonFeedBatch:
    """The key's open batch, locked; made when there is none (two workers racing to make it
    meet at the partial unique constraint, and the loser takes the winner's)."""
    for _ in range(3):
        batch = (
            AmazonFeedBatch.objects.select_for_update()
            .filter(
                account_id=key.account_id,
                feed_type=key.feed_type,
                marketplace_id=key.marketplace_id,
                status=Status.OPEN,
            )
            .first()
        )
        if batch is not None:
            return batch
        now = timezone.now()
        try:
            with transaction.atomic():
                return AmazonFeedBatch.objects.create(
                    merchant_id=merchant_id,
                    account_id=key.account_id,
                    feed_type=key.feed_type,
                    message_type=key.message_type,
                    marketplace_id=key.marketplace_id,
                    opened_at=now,
                    due_at=now + timedelta(seconds=limits.wait_seconds),
                )
        except IntegrityError:
            continue
    raise RuntimeError(f"could not open a feed batch for {key}")


def _seal(batch: AmazonFeedBatch) -> None:
    """No member joins any more (the caller holds the row lock)."""
    batch.status = Status.SEALED if batch.message_count else Status.ABANDONED
    batch.sealed_at = timezone.now()
    batch.save(update_fields=["status", "sealed_at"])


@transaction.atomic
def leave(message: OutboxMessage) -> bool:
    """Take the message out of its batch, as long as createFeed was not attempted for it.
    True when it is in no batch now; False when it may have reached Amazon already."""
    member = AmazonFeedMessage.objects.filter(outbox_message_id=message.pk).first()
    if member is None:
        return True
    batch = AmazonFeedBatch.objects.select_for_update().get(pk=member.batch_id)
    if batch.create_feed_attempted_at is not None:
        return False
    member.delete()
    batch.message_count = max(batch.message_count - 1, 0)
    batch.byte_size = max(batch.byte_size - len(member.body.encode("utf-8")), 0)
    fields = ["message_count", "byte_size"]
    if batch.status == Status.SEALED:
        # The document (even if uploaded) is rebuilt from the members left.
        batch.document = None
        batch.document_id = ""
        fields += ["document", "document_id"]
    if batch.message_count == 0:
        batch.status = Status.ABANDONED
        batch.finished_at = timezone.now()
        fields += ["status", "finished_at"]
    batch.save(update_fields=fields)
    return True


# --- sending ----------------------------------------------------------------------------------


def advance(member: AmazonFeedMessage, gateway: AmazonGateway, *, seller_id: str) -> Outcome:
    """Move the member's batch on as far as it goes now, and say where the member stands.
    Amazon's errors (``AmazonError`` and its kinds) are raised to the caller, who maps them to
    the outbox's; every step already taken is recorded, so the next attempt resumes."""
    batch = AmazonFeedBatch.objects.get(pk=member.batch_id)
    submitted_now = False
    followed = None
    if batch.status == Status.OPEN:
        waiting = _seal_if_due(batch.pk, member)
        if waiting is not None:
            return waiting
        batch.refresh_from_db()
    if batch.status == Status.SEALED:
        token = feed_sending.take_lease(batch.pk)
        if token is None:
            return Outcome("waiting", retry_after=WAIT_STEP_SECONDS, detail="being sent")
        try:
            batch = feed_sending.submit(batch.pk, gateway, seller_id)
            submitted_now = True
        finally:
            feed_sending.release_lease(batch.pk, token)
    if batch.status == Status.SUBMITTED:
        followed = feed_sending.follow(batch, gateway)
        batch = followed.batch
    outcome = _outcome(batch, member)
    if outcome.state == "processing" and followed is not None and followed.elsewhere:
        # Another delivery follows the feed: it wakes the members once Amazon has answered;
        # if it died, its lease runs out and this member follows.
        outcome.retry_after = max(followed.wait, WAIT_STEP_SECONDS)
        outcome.detail = "another delivery follows it"
    outcome.submitted_now = submitted_now
    return outcome


def _seal_if_due(batch_id: int, member: AmazonFeedMessage) -> Outcome | None:
    with transaction.atomic():
        batch = AmazonFeedBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != Status.OPEN:
            return None
        now = timezone.now()
        if now < batch.due_at and (
            _companions_due(batch, member) or _recent_feed(batch, now - _wait(batch))
        ):
            # Back when the batch is due: sealed earlier (its last member found nobody else
            # coming), it wakes its members once Amazon answered; so no polling meanwhile.
            remaining = (batch.due_at - now).total_seconds()
            return Outcome(
                "waiting",
                retry_after=max(remaining, 0.5),
                detail=f"waiting for other messages to share feed batch #{batch.pk}",
            )
        _seal(batch)
    return None


def _wait(batch: AmazonFeedBatch) -> timedelta:
    return batch.due_at - batch.opened_at


def _recent_feed(batch: AmazonFeedBatch, since) -> bool:
    """Whether another batch of the same key was sealed since ``since``: then this one waits
    its full time, so a key sends at most one feed per wait (plus the full ones)."""
    return (
        AmazonFeedBatch.objects.filter(
            account_id=batch.account_id,
            feed_type=batch.feed_type,
            marketplace_id=batch.marketplace_id,
            sealed_at__gt=since,
        )
        .exclude(pk=batch.pk)
        .exclude(status=Status.ABANDONED)
        .exists()
    )


def _companions_due(batch: AmazonFeedBatch, member: AmazonFeedMessage) -> bool:
    """Whether a message of the same key is due in the outbox and has not joined yet."""
    hint = BatchKey(batch.account_id, batch.feed_type, batch.message_type, batch.marketplace_id)
    return (
        OutboxMessage.objects.filter(
            merchant_id=batch.merchant_id,
            status=OutboxStatus.PENDING,
            payload__feed_batch=hint.hint,
            next_attempt_at__lte=timezone.now() + timedelta(seconds=WAIT_STEP_SECONDS),
            feed_member__isnull=True,
        )
        .exclude(pk=member.outbox_message_id)
        .exists()
    )


def _outcome(batch: AmazonFeedBatch, member: AmazonFeedMessage) -> Outcome:
    base = {
        "feed_id": batch.feed_id,
        "document_id": batch.document_id,
        "processing_status": batch.processing_status,
        "message_id": member.message_id,
    }
    if batch.status in (Status.OPEN, Status.SEALED):
        return Outcome("waiting", retry_after=WAIT_STEP_SECONDS, detail="being sent", **base)
    if batch.status == Status.SUBMITTED:
        return Outcome("processing", retry_after=feed_sending.retry_seconds(), **base)
    if batch.status == Status.FAILED or batch.status == Status.ABANDONED:
        return Outcome("failed", detail=batch.failure or "the feed was not sent", **base)
    member.refresh_from_db(fields=["result"])
    result = member.result or {}
    lines = [
        ReportLine(r["result_code"], r["message_code"], r["description"])
        for r in result.get("results", [])
    ]
    return Outcome(
        "done",
        errors=[line for line in lines if line.result_code == "Error"],
        warnings=[line for line in lines if line.result_code == "Warning"],
        report={**result, "feed": batch.report, "feed_id": batch.feed_id},
        **base,
    )
