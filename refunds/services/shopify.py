"""The Shopify mirror of refunds and cancellations made in Keelson (issue 12; R6, R7, R4).

A refund (or cancellation) of an order mirrored in the merchant's Shopify store is written to
the store once Amazon accepted it (``refund_succeeded``, inside the outbox's transaction that
records Amazon's answer): Shopify then shows what really happened, never a refund Amazon
refused (R6). One outbox message per refund and store; ``refunds/shopify.py`` does the I/O;
``shopify_synced``/``shopify_failed`` record the outcome in the transaction of the outbox's ack.

Two more paths keep the store true to Amazon:

- ``mirror_amazon_cancellations``: an order Amazon cancelled itself (the buyer's request
  granted by Amazon, Seller Central, a payment that never cleared) after it was mirrored is
  cancelled in the store too, once (``shopify.amazon_cancellation``); a cancellation made in
  Keelson or in Shopify has its own refund and is mirrored (or came from there) that way;
- ``reconcile_shopify_refunds``: succeeded refunds of mirrored orders that were never queued for
  the store (made before the order was mirrored, or while the store was disconnected) are
  queued now, with the same key as the first time, so nothing is written twice.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from integrations.outbox.selectors import never_queued
from integrations.outbox.services import enqueue
from integrations.shopify.delivery import active_store
from orders.announcements import OrderChangeSet
from orders.models import Channel, EventKind, Order
from orders.shopify_mirror import MIRROR_STATES
from refunds.models import Refund, RefundKind, RefundStatus, ShopifySync
from refunds.services.base import Actor, _event

SHOPIFY_REFUND_KIND = "shopify.refund"
SHOPIFY_CANCEL_KIND = "shopify.cancel_order"
SHOPIFY_AMAZON_CANCELLATION_KIND = "shopify.amazon_cancellation"
RECONCILE_BATCH = 500


def _key_parts(store_id: int) -> tuple[str, str]:
    return "refund-", f"-shopify-store-{store_id}"


def shopify_message_key(refund: Refund, store_id: int) -> str:
    prefix, suffix = _key_parts(store_id)
    return f"{prefix}{refund.pk}{suffix}"


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


# --- orders Amazon cancelled ------------------------------------------------------------------


def amazon_cancellation_key(order_id: int, store_id: int) -> str:
    return f"shopify-amazon-cancellation-{order_id}-store-{store_id}"


def mirror_amazon_cancellations(changes: OrderChangeSet) -> list[int]:
    """The announcement subscriber (in the upsert's transaction and tenant scope): each order
    of ``changes`` that Amazon cancelled, whose mirror exists or is on its way, and that no
    Keelson or Shopify cancellation explains, is cancelled in the store. Returns the order ids
    queued now."""
    if not changes.newly_cancelled_order_ids:
        return []
    store = active_store(changes.merchant_id)
    if store is None:
        return []
    ours = Refund.objects.filter(order=OuterRef("pk"), kind=RefundKind.CANCELLATION).exclude(
        status=RefundStatus.FAILED
    )
    orders = list(
        Order.objects.filter(
            pk__in=changes.newly_cancelled_order_ids,
            channel=Channel.AMAZON,
            shopify_state__in=MIRROR_STATES,
        )
        .exclude(Exists(ours))
        .only("id", "merchant_id")
    )
    for order in orders:
        enqueue(
            merchant_id=order.merchant_id,
            kind=SHOPIFY_AMAZON_CANCELLATION_KIND,
            payload={"order": order.pk, "store": store.pk},
            idempotency_key=amazon_cancellation_key(order.pk, store.pk),
            order_id=order.pk,
        )
    return [order.pk for order in orders]


# --- reconcile ----------------------------------------------------------------------------------


def reconcile_shopify_refunds(merchant_id: int, *, limit: int = RECONCILE_BATCH) -> int:
    """Queue the merchant's succeeded refunds and cancellations that belong in its Shopify store
    and were never queued for it. Run in the merchant's scope. Returns how many were queued."""
    store = active_store(merchant_id)
    if store is None:
        return 0
    with transaction.atomic():
        missing = list(
            never_queued(
                Refund.objects.filter(
                    merchant_id=merchant_id,
                    status=RefundStatus.SUCCEEDED,
                    # Not applicable when it was made: the order was not mirrored yet, or no
                    # store was connected. Synced or failed ones are left alone (failed: retried
                    # by hand).
                    shopify_sync__in=(ShopifySync.PENDING, ShopifySync.NOT_APPLICABLE),
                    order__channel=Channel.AMAZON,
                    order__shopify_state__in=MIRROR_STATES,
                ),
                merchant_id=merchant_id,
                key=_key_parts(store.pk),
            )
            .select_related("order")
            .order_by("id")[:limit]
        )
        for refund in missing:
            Refund.objects.filter(pk=refund.pk).update(
                shopify_sync=ShopifySync.PENDING, updated_at=timezone.now()
            )
            refund.shopify_sync = ShopifySync.PENDING
            enqueue_shopify_mirror(refund.order, refund)
        return len(missing)
