"""Sending a refund or a cancellation to Amazon: the outbox handler's work (I/O only; every
state change is a refunds.services call, in its own transaction).

One outbox message per refund (key ``refund-<id>-amazon``), delivered by a worker; its refund
travels to Amazon as one message of a feed shared with the other pending refunds (or
cancellations) of the same Amazon account and marketplace (integrations/amazon/feed_batches.py,
docs/amazon-feeds.md):

1. Nothing is sent while the merchant is deactivated or the order's Amazon account is not
   connected (R8): the message fails at once with ``amazon_account_not_connected`` (leaving a
   batch it had joined, unless that batch's feed was already created) and the refund waits on
   hold until a person sends it again (``services.send_again``). Reconnecting never sends
   anything by itself.
2. A refund first asks Amazon for the order's Finances events (R6): a refund made in Seller
   Central since the order was last synced fails ours with ``already_refunded_on_amazon``.
3. The refund's message (``<OrderAdjustment>`` or ``<OrderAcknowledgement>``) is built,
   validated against Amazon's XSDs (an invalid one is never sent: ``invalid_feed_document``),
   and joins the batch of its account, feed type and marketplace.
4. The batch goes as one feed (document, upload, createFeed, each recorded at once, so a
   retry resumes it and never builds another); while it collects companions or Amazon is
   processing it, the message is retried later rather than holding a worker.
5. The processing report, read once per batch: our MessageID without an error is success; an
   error is this refund's failure with Amazon's reason in plain words. The other refunds of
   the feed are settled from their own lines.

A repeated feed is harmless: every adjusted item carries our MerchantAdjustmentItemID, which
Amazon does not apply twice, and a cancelled item cannot be cancelled again.
"""

from __future__ import annotations

import logging

from integrations.amazon import feed_batches, feed_documents
from integrations.amazon.delivery import gateway_for_delivery
from integrations.amazon.gateway import (
    AmazonAuthFailed,
    AmazonError,
    AmazonGateway,
    AmazonPermanentError,
    AmazonThrottled,
)
from integrations.outbox.errors import (
    DeferredDelivery,
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
)
from integrations.outbox.models import OutboxMessage
from refunds import feeds, policy, services
from refunds.models import Refund, RefundKind, RefundStatus

logger = logging.getLogger(__name__)

INVALID_DOCUMENT = "invalid_feed_document"


def deliver(message: OutboxMessage) -> dict:
    refund_id = int(message.payload["refund"])
    refund = Refund.objects.select_related("order", "order__amazon_account").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return {"skipped": refund.status}
    order = refund.order
    hold = services.amazon_hold_reason(order)
    if hold:
        member = feed_batches.member_for(message)
        if not refund.amazon_feed_id and not (member and member.batch.feed_id):
            # Not on Amazon: out of its batch (unless createFeed was attempted for it, and
            # then only a person's "send again" resumes that feed), and on hold (R8).
            feed_batches.leave(message)
            raise PermanentDeliveryError(hold, code=services.ON_HOLD)
        # Its feed is at Amazon: reading the result sends nothing.
    gateway = gateway_for_delivery(order.amazon_account)
    try:
        if refund.amazon_feed_id and feed_batches.member_for(message) is None:
            return _deliver_single_feed(gateway, refund)  # sent before feeds were batched
        return _deliver(gateway, refund, message)
    except feed_batches.BatchDocumentInvalid as exc:
        raise _invalid(refund, exc.errors) from exc
    except feed_batches.MalformedReport as exc:
        raise TransientDeliveryError(str(exc), code="amazon_report_unreadable") from exc
    except AmazonThrottled as exc:
        raise ThrottledDeliveryError(
            f"Amazon throttled: {exc.message}", code="amazon_throttled", retry_after=exc.retry_after
        ) from exc
    except AmazonAuthFailed as exc:
        # The seller's authorisation is gone: a disconnected account, as far as we can tell.
        if not refund.amazon_feed_id:
            feed_batches.leave(message)
        raise PermanentDeliveryError(
            f"Amazon refused our authorisation ({exc.message}); reconnect the account",
            code=services.ON_HOLD,
        ) from exc
    except AmazonPermanentError as exc:
        raise PermanentDeliveryError(
            f"Amazon refused the request: {exc.message}", code="amazon_refused"
        ) from exc
    except AmazonError as exc:
        raise TransientDeliveryError(
            f"Amazon: {exc.message}", code=exc.code or "amazon_unavailable"
        ) from exc


def _deliver(gateway: AmazonGateway, refund: Refund, message: OutboxMessage) -> dict:
    order = refund.order
    member = feed_batches.member_for(message)
    if member is None:
        if refund.kind == RefundKind.REFUND:
            events = gateway.financial_events_for_order(order.external_id)
            check = services.check_before_sending(refund.pk, events)
            if check == "applied":
                return {"already_on_amazon": True}
            if check == "blocked":
                raise PermanentDeliveryError(
                    "already refunded on Amazon. The order was refunded in Seller Central, so "
                    "it can no longer be refunded in Keelson (R6): make further refunds there.",
                    code=services.ALREADY_REFUNDED,
                )
        feed_type, body = build_message(refund)
        seller_id = order.amazon_account.selling_partner_id
        try:
            feed_documents.validate(feeds.single_message_document(seller_id, feed_type, body))
        except feed_documents.InvalidFeedDocument as exc:
            raise _invalid(refund, exc.errors) from exc
        services.mark_sending(refund.pk)
        member = feed_batches.join(message, batch_key(refund, feed_type), body)
    outcome = feed_batches.advance(
        member, gateway, seller_id=order.amazon_account.selling_partner_id
    )
    if outcome.feed_id and refund.amazon_feed_id != outcome.feed_id:
        services.record_feed_submitted(refund.pk, outcome.document_id, outcome.feed_id)
        refund.amazon_feed_id = outcome.feed_id
    if outcome.state == "waiting":
        raise DeferredDelivery(
            f"Waiting to go to Amazon in one feed with other messages ({outcome.detail}).",
            code="feed_batching",
            retry_after=max(outcome.retry_after, 0.5),
        )
    if outcome.state == "processing":
        # Amazon's pace, not a failed attempt: looked at again until it is done.
        if outcome.processing_status:
            services.record_feed_status(refund.pk, outcome.processing_status)
        raise DeferredDelivery(
            f"Amazon is processing feed {outcome.feed_id} "
            f"({outcome.detail or outcome.processing_status}).",
            code="feed_processing",
            retry_after=max(outcome.retry_after, 0.5),
        )
    if outcome.state == "failed":
        code = f"amazon_feed_{(outcome.processing_status or 'failed').lower()}"
        if outcome.detail.startswith("invalid feed document"):
            code = INVALID_DOCUMENT
        raise PermanentDeliveryError(outcome.detail, code=code)
    services.record_feed_status(refund.pk, outcome.processing_status, outcome.report)
    if outcome.errors:
        first = outcome.errors[0]
        result = feeds.ReportResult(
            str(outcome.message_id), first.result_code, first.message_code, first.description
        )
        raise PermanentDeliveryError(
            feeds.plain_words(result), code=f"amazon_{first.message_code or 'error'}"
        )
    return {
        "feed_id": outcome.feed_id,
        "feed_status": outcome.processing_status,
        "message_id": outcome.message_id,
        "report": outcome.report,
    }


def _invalid(refund: Refund, errors: list[str]) -> PermanentDeliveryError:
    """A message that breaks Amazon's schema is our bug: never sent, and said loudly."""
    logger.error("refund %s: invalid Amazon feed message, not sent: %s", refund.pk, errors)
    return PermanentDeliveryError(
        "Keelson built a message Amazon's feed schema refuses, so nothing was sent (this is "
        f"a bug of ours; please tell support): {'; '.join(errors[:3])}",
        code=INVALID_DOCUMENT,
    )


def batch_key(refund: Refund, feed_type: str) -> feed_batches.BatchKey:
    order = refund.order
    return feed_batches.BatchKey(
        account_id=order.amazon_account_id,
        feed_type=feed_type,
        message_type=feeds.MESSAGE_TYPES[feed_type],
        marketplace_id=order.marketplace_id,
    )


def _deliver_single_feed(gateway: AmazonGateway, refund: Refund) -> dict:
    """A refund sent in a feed of its own (before feeds were batched): read its result."""
    status = feed_batches.watch(gateway, refund.amazon_feed_id)
    if not status.finished:
        services.record_feed_status(refund.pk, status.processing_status)
        raise DeferredDelivery(
            f"Amazon is processing feed {status.feed_id} ({status.processing_status}).",
            code="feed_processing",
            retry_after=max(feed_batches.retry_seconds(), 0.5),
        )
    report = None
    if status.result_document_id:
        try:
            report = feeds.parse_report(gateway.get_feed_document(status.result_document_id))
        except feeds.MalformedReport as exc:
            raise TransientDeliveryError(str(exc), code="amazon_report_unreadable") from exc
    services.record_feed_status(
        refund.pk, status.processing_status, report.as_dict() if report else None
    )
    if status.processing_status != "DONE" or report is None:
        raise PermanentDeliveryError(
            f"Amazon could not process the feed ({status.processing_status})",
            code=f"amazon_feed_{status.processing_status.lower()}",
        )
    if not report.accepted:
        errors = report.errors_for()
        if errors:
            raise PermanentDeliveryError(
                feeds.plain_words(errors[0]), code=f"amazon_{errors[0].message_code or 'error'}"
            )
        raise PermanentDeliveryError(
            "Amazon processed the feed but did not accept the message.", code="amazon_rejected"
        )
    return {
        "feed_id": status.feed_id,
        "feed_status": status.processing_status,
        "report": report.as_dict(),
    }


def build_message(refund: Refund) -> tuple[str, str]:
    """The feed type and the message body that tell Amazon about this refund or
    cancellation."""
    order = refund.order
    lines = list(refund.lines.select_related("order_line").order_by("id"))
    if refund.kind == RefundKind.CANCELLATION:
        return feeds.ORDER_ACKNOWLEDGEMENT, feeds.order_cancellation_body(
            amazon_order_id=order.external_id,
            items=[
                feeds.CancelledItem(line.external_item_id, refund.cancel_reason)
                for line in lines
                if line.quantity > 0
            ],
        )
    return feeds.PAYMENT_ADJUSTMENT, feeds.payment_adjustment_body(
        amazon_order_id=order.external_id,
        currency=refund.currency,
        items=[
            feeds.AdjustedItem(
                order_item_id=line.external_item_id,
                merchant_adjustment_item_id=f"KLS-{refund.pk}-{line.pk}",
                reason=refund.reason or "CustomerReturn",
                components=policy.Components(
                    line.principal, line.tax, line.shipping, line.shipping_tax
                ),
                quantity=line.quantity,
            )
            for line in lines
            if line.amount + line.shipping_amount > 0
        ],
    )
