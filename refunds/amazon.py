"""Sending a refund or a cancellation to Amazon: the outbox handler's work (I/O only; every
state change is a refunds.services call, in its own transaction).

One outbox message per refund (key ``refund-<id>-amazon``), delivered by a worker:

1. Nothing is sent while the merchant is deactivated or the order's Amazon account is not
   connected (R8): the message fails at once with ``amazon_account_not_connected`` and the
   refund waits on hold until a person sends it again (``services.send_again``). Reconnecting
   never sends anything by itself.
2. A refund first asks Amazon for the order's Finances events (R6): a refund made in Seller
   Central since the order was last synced fails ours with ``already_refunded_on_amazon``.
3. The feed: createFeedDocument and the upload, createFeed; the feed id is stored at once, so a
   later attempt polls that feed and never creates a second one.
4. getFeed for a few seconds; while Amazon is still processing, the message is retried later
   (``feed_processing``; the outbox backs off) rather than holding a worker.
5. The processing report (getFeedDocument): our message accepted is success; an error is the
   refund's failure with Amazon's reason in plain words.

A repeated feed is harmless: every adjusted item carries our MerchantAdjustmentItemID, which
Amazon does not apply twice.
"""

from __future__ import annotations

import time

from django.conf import settings

from integrations.amazon.delivery import gateway_for_delivery
from integrations.amazon.gateway import (
    AmazonAuthFailed,
    AmazonError,
    AmazonGateway,
    AmazonPermanentError,
    AmazonThrottled,
    FeedStatus,
)
from integrations.outbox.errors import (
    PermanentDeliveryError,
    ThrottledDeliveryError,
    TransientDeliveryError,
)
from refunds import feeds, policy, services
from refunds.models import Refund, RefundKind, RefundStatus

# How long one delivery watches a feed before handing the worker back (seconds), how often it
# asks, and when the retry comes (the outbox's backoff may make it later).
FEED_WAIT_SECONDS = 10.0
FEED_POLL_INTERVAL = 1.0
FEED_RETRY_SECONDS = 30.0


def deliver(refund_id: int) -> dict:
    refund = Refund.objects.select_related("order", "order__amazon_account").get(pk=refund_id)
    if refund.status != RefundStatus.PENDING:
        return {"skipped": refund.status}
    order = refund.order
    hold = services.amazon_hold_reason(order)
    if hold:
        raise PermanentDeliveryError(hold, code=services.ON_HOLD)
    gateway = gateway_for_delivery(order.amazon_account)
    try:
        return _deliver(gateway, refund)
    except AmazonThrottled as exc:
        raise ThrottledDeliveryError(
            f"Amazon throttled: {exc.message}", code="amazon_throttled", retry_after=exc.retry_after
        ) from exc
    except AmazonAuthFailed as exc:
        # The seller's authorisation is gone: a disconnected account, as far as we can tell.
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


def _deliver(gateway: AmazonGateway, refund: Refund) -> dict:
    order = refund.order
    result: dict = {}
    if not refund.amazon_feed_id:
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
        services.mark_sending(refund.pk)
        feed_type, content = build_feed(refund)
        # A document uploaded on an attempt that was then throttled at createFeed is reused.
        document_id = refund.amazon_feed_document_id
        if not document_id:
            document_id = gateway.create_feed_document(content, feeds.CONTENT_TYPE)
            services.record_feed_document(refund.pk, document_id)
        feed_id = gateway.create_feed(feed_type, document_id, [order.marketplace_id])
        services.record_feed_submitted(refund.pk, document_id, feed_id)
        refund.amazon_feed_id = feed_id
        result["submitted"] = True
    status = _watch(gateway, refund.amazon_feed_id)
    if not status.finished:
        services.record_feed_status(refund.pk, status.processing_status)
        raise TransientDeliveryError(
            f"Amazon is processing feed {status.feed_id} ({status.processing_status}).",
            code="feed_processing",
            retry_after=float(getattr(settings, "KEELSON_FEED_RETRY_SECONDS", FEED_RETRY_SECONDS)),
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
        detail = ""
        if report is not None and report.results:
            detail = ": " + report.results[0].description
        raise PermanentDeliveryError(
            f"Amazon could not process the feed ({status.processing_status}){detail}",
            code=f"amazon_feed_{status.processing_status.lower()}",
        )
    if not report.accepted:
        errors = report.errors_for()
        if errors:
            first = errors[0]
            raise PermanentDeliveryError(
                feeds.plain_words(first), code=f"amazon_{first.message_code or 'error'}"
            )
        raise PermanentDeliveryError(
            "Amazon processed the feed but did not accept the message.", code="amazon_rejected"
        )
    return {
        **result,
        "feed_id": status.feed_id,
        "feed_status": status.processing_status,
        "report": report.as_dict(),
    }


def _watch(gateway: AmazonGateway, feed_id: str) -> FeedStatus:
    wait = float(getattr(settings, "KEELSON_FEED_WAIT_SECONDS", FEED_WAIT_SECONDS))
    deadline = time.monotonic() + wait
    while True:
        status = gateway.get_feed(feed_id)
        if status.finished or time.monotonic() + FEED_POLL_INTERVAL > deadline:
            return status
        time.sleep(FEED_POLL_INTERVAL)


def build_feed(refund: Refund) -> tuple[str, bytes]:
    """The feed type and XML document that tell Amazon about this refund or cancellation."""
    order = refund.order
    seller_id = order.amazon_account.selling_partner_id
    lines = list(refund.lines.select_related("order_line").order_by("id"))
    if refund.kind == RefundKind.CANCELLATION:
        return feeds.ORDER_ACKNOWLEDGEMENT, feeds.order_cancellation(
            seller_id=seller_id,
            amazon_order_id=order.external_id,
            items=[
                feeds.CancelledItem(line.external_item_id, refund.cancel_reason)
                for line in lines
                if line.quantity > 0
            ],
        )
    return feeds.PAYMENT_ADJUSTMENT, feeds.payment_adjustment(
        seller_id=seller_id,
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
