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
   most one feed per wait, plus the full ones). Until then ``advance`` answers ``waiting``;
   the outbox asks again (``DeferredDelivery``, not counted as an attempt).
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

import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from defusedxml import ElementTree as SafeET
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from integrations.amazon import feed_documents
from integrations.amazon.gateway import AmazonGateway, FeedStatus
from integrations.models import AmazonFeedBatch, AmazonFeedMessage
from integrations.models import AmazonFeedBatchStatus as Status
from integrations.outbox import services as outbox_services
from integrations.outbox.models import OutboxMessage, OutboxStatus

# Defaults of the settings (portal/settings.py documents them).
MAX_MESSAGES = 1000
MAX_BYTES = 5_000_000
WAIT_SECONDS = 60.0
# A worker sending a batch owns it this long (it makes at most three calls, each bounded).
LEASE = timedelta(minutes=5)
# How soon a waiting member asks again; how long one attempt watches getFeed.
WAIT_STEP_SECONDS = 2.0
FEED_POLL_INTERVAL = 1.0


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
    - ``processing``: Amazon has the feed and is not done (``processing_status``);
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


class BatchDocumentInvalid(Exception):
    """The batch's document breaks Amazon's schema (a bug): nothing was sent."""

    def __init__(self, error: feed_documents.InvalidFeedDocument) -> None:
        super().__init__(str(error))
        self.errors = error.errors


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
    if batch.status == Status.OPEN:
        waiting = _seal_if_due(batch.pk, member)
        if waiting is not None:
            return waiting
        batch.refresh_from_db()
    if batch.status == Status.SEALED:
        token = _take_lease(batch.pk)
        if token is None:
            return Outcome("waiting", retry_after=WAIT_STEP_SECONDS, detail="being sent")
        try:
            batch = _submit(batch.pk, gateway, seller_id)
            submitted_now = True
        finally:
            _release_lease(batch.pk, token)
    if batch.status == Status.SUBMITTED:
        batch = _follow(batch, gateway)
    outcome = _outcome(batch, member)
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


def _take_lease(batch_id: int) -> uuid.UUID | None:
    now = timezone.now()
    token = uuid.uuid4()
    with transaction.atomic():
        batch = AmazonFeedBatch.objects.select_for_update().get(pk=batch_id)
        if batch.status != Status.SEALED:
            return token  # nothing to send: the caller just reads on
        if batch.lease_until is not None and batch.lease_until > now:
            return None
        batch.lease_until = now + LEASE
        batch.lease_token = token
        batch.save(update_fields=["lease_until", "lease_token"])
    return token


def _release_lease(batch_id: int, token: uuid.UUID) -> None:
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


def _submit(batch_id: int, gateway: AmazonGateway, seller_id: str) -> AmazonFeedBatch:
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
            _wake_members(batch)
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


def _follow(batch: AmazonFeedBatch, gateway: AmazonGateway) -> AmazonFeedBatch:
    """getFeed for a few seconds; once Amazon is done, the report is read once for all."""
    status = _watch(gateway, batch.feed_id)
    if not status.finished:
        AmazonFeedBatch.objects.filter(pk=batch.pk, status=Status.SUBMITTED).update(
            processing_status=status.processing_status
        )
        batch.processing_status = status.processing_status
        return batch
    token = _take_report_lease(batch.pk)
    if token is None:  # another member's worker is reading the report right now
        batch.refresh_from_db()
        return batch
    try:
        text = (
            gateway.get_feed_document(status.result_document_id)
            if status.result_document_id
            else ""
        )
        report = parse_report(text) if text else None
        _record_report(batch.pk, status, report)
    finally:
        _release_lease(batch.pk, token)
    return AmazonFeedBatch.objects.get(pk=batch.pk)


def _take_report_lease(batch_id: int) -> uuid.UUID | None:
    now = timezone.now()
    token = uuid.uuid4()
    updated = (
        AmazonFeedBatch.objects.filter(pk=batch_id, status=Status.SUBMITTED)
        .exclude(lease_until__gt=now)
        .update(lease_until=now + LEASE, lease_token=token)
    )
    return token if updated else None


def _watch(gateway: AmazonGateway, feed_id: str) -> FeedStatus:
    wait = float(getattr(settings, "KEELSON_FEED_WAIT_SECONDS", 10.0))
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
    _wake_members(batch)


def _wake_members(batch: AmazonFeedBatch) -> None:
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
        return Outcome("processing", **base)
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


# --- the processing report --------------------------------------------------------------------


class MalformedReport(ValueError):
    pass


@dataclass
class ParsedReport:
    processed: int = 0
    successful: int = 0
    with_error: int = 0
    with_warning: int = 0
    results: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        return {
            "processed": self.processed,
            "successful": self.successful,
            "with_error": self.with_error,
            "with_warning": self.with_warning,
        }

    def for_message(self, message_id: int) -> dict:
        """This message's lines (and those about the whole document, MessageID 0)."""
        mine = [r for r in self.results if r["message_id"] in (str(message_id), "0", "")]
        errors = any(r["result_code"] == "Error" for r in mine)
        return {
            "message_id": message_id,
            "processed": 1,
            "successful": 0 if errors else 1,
            "with_error": 1 if errors else 0,
            "with_warning": int(any(r["result_code"] == "Warning" for r in mine)),
            "results": mine,
        }


def parse_report(text: str | bytes) -> ParsedReport:
    raw = text.encode("utf-8") if isinstance(text, str) else text
    try:
        root = SafeET.fromstring(raw)
    except Exception as exc:  # defusedxml/expat raise several types
        raise MalformedReport(f"the processing report is not XML ({exc})") from exc
    report_el = root.find("Message/ProcessingReport")
    if report_el is None:
        raise MalformedReport("no ProcessingReport in the document")
    summary = report_el.find("ProcessingSummary")

    def number(name: str) -> int:
        value = summary.findtext(name) if summary is not None else None
        try:
            return int(value or 0)
        except ValueError:
            return 0

    report = ParsedReport(
        processed=number("MessagesProcessed"),
        successful=number("MessagesSuccessful"),
        with_error=number("MessagesWithError"),
        with_warning=number("MessagesWithWarning"),
    )
    for r in report_el.findall("Result"):
        report.results.append(
            {
                "message_id": (r.findtext("MessageID") or "").strip(),
                "result_code": (r.findtext("ResultCode") or "").strip(),
                "message_code": (r.findtext("ResultMessageCode") or "").strip(),
                "description": (r.findtext("ResultDescription") or "").strip(),
            }
        )
    return report
