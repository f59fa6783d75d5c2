"""The Shopify mirror of refunds and cancellations made in Keelson (issue 12; R6, R7, R4).

A refund (or cancellation) of an order mirrored in the merchant's Shopify store is written to
the store once Amazon accepted it (``refund_succeeded``, inside the outbox's transaction that
records Amazon's answer): Shopify then shows what really happened, never a refund Amazon
refused (R6). One outbox message per refund and store; ``refunds/shopify.py`` does the I/O;
``shopify_synced``/``shopify_failed`` record the outcome in the transaction of the outbox's ack.
"""

from __future__ import annotations

from django.utils import timezone

from integrations.outbox.services import enqueue
from integrations.shopify.delivery import active_store
from orders.models import EventKind, Order
from refunds.models import Refund, RefundStatus, ShopifySync
from refunds.services.base import Actor, _event

SHOPIFY_REFUND_KIND = "shopify.refund"
SHOPIFY_CANCEL_KIND = "shopify.cancel_order"


def shopify_message_key(refund: Refund, store_id: int) -> str:
    return f"refund-{refund.pk}-shopify-store-{store_id}"


def enqueue_shopify_mirror(order: Order, refund: Refund) -> bool:
    """Queue the refund's write to Shopify (once; in the caller's transaction). Returns whether
    it was queued."""
    if refund.shopify_sync != ShopifySync.PENDING or refund.status != RefundStatus.SUCCEEDED:
        return False
    store = active_store(order.merchant_id)
    if store is None:
        Refund.objects.filter(pk=refund.pk).update(
            shopify_sync=ShopifySync.NOT_APPLICABLE, updated_at=timezone.now()
        )
        return False
    enqueue(
        merchant_id=order.merchant_id,
        kind=SHOPIFY_CANCEL_KIND if refund.is_cancellation else SHOPIFY_REFUND_KIND,
        payload={"refund": refund.pk, "store": store.pk},
        idempotency_key=shopify_message_key(refund, store.pk),
        order_id=order.pk,
    )
    return True


def shopify_synced(refund_id: int, result: dict) -> None:
    """Shopify has it (the outbox's on_sent, in its transaction)."""
    Refund.objects.filter(pk=refund_id).update(
        shopify_sync=ShopifySync.SYNCED, updated_at=timezone.now()
    )


def shopify_failed(refund_id: int, message: str) -> None:
    """Shopify refused it, or the outbox gave up (on_failed, in its transaction): the refund
    itself stands (Amazon accepted it); its mirror failed, and the timeline says why."""
    refund = Refund.objects.select_related("order").filter(pk=refund_id).first()
    if refund is None:
        return
    Refund.objects.filter(pk=refund_id).update(
        shopify_sync=ShopifySync.FAILED, updated_at=timezone.now()
    )
    what = "Cancellation" if refund.is_cancellation else "Refund"
    _event(
        refund.order,
        EventKind.OUTBOX,
        f"{what} #{refund.pk} was not written to Shopify: {message} The refund itself stands "
        "(Amazon accepted it); retry it from the outbox list.",
        Actor.system(),
        {"refund": refund.pk, "outcome": "failed", "destination": "Shopify"},
    )
