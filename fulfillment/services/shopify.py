"""The Shopify mirror of fulfillments (issue 12; R3, R4): each fulfillment of an Amazon order
mirrored in the merchant's Shopify store is written there once, through the outbox.

- ``enqueue_shopify_fulfillment``: one message per fulfillment and store, in the transaction
  that made the fulfillment (``fulfil_order``) or that repairs a missing one (the reconcile);
- ``record_shopify_fulfillment``: the Shopify id, stored in the transaction of the outbox's ack;
- ``reconcile_shopify_fulfillments``: the fulfillments that were never queued (made before the
  store was connected or the order mirrored, or while the store was disconnected) are queued
  now, once each: the same key as the first time, so nothing is written twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from django.db import transaction

from fulfillment.models import Fulfillment
from fulfillment.services.base import SHOPIFY_FULFILLMENT_KIND
from integrations.outbox.selectors import never_queued
from integrations.outbox.services import enqueue
from integrations.shopify.delivery import active_store
from orders.models import Channel, OrderLine
from orders.shopify_mirror import MIRROR_STATES
from tenants.models import ShopifyStore

RECONCILE_BATCH = 500


def _key_parts(store_id: int) -> tuple[str, str]:
    return "shopify-fulfillment-", f"-store-{store_id}"


def shopify_fulfillment_key(fulfillment_id: int, store_id: int) -> str:
    prefix, suffix = _key_parts(store_id)
    return f"{prefix}{fulfillment_id}{suffix}"


def enqueue_shopify_fulfillment(
    fulfillment: Fulfillment,
    store: ShopifyStore,
    *,
    pairs: Sequence[tuple[OrderLine, int]] | None = None,
) -> None:
    """One outbox message writing the fulfillment to the store (idempotent: keyed per
    fulfillment and store), in the caller's transaction. ``pairs`` are its lines and
    quantities, read from the fulfillment when not given."""
    if pairs is None:
        pairs = [
            (fl.order_line, fl.quantity)
            for fl in fulfillment.lines.select_related("order_line").order_by("id")
        ]
    quantities: dict[str, int] = defaultdict(int)
    for line, qty in pairs:
        quantities[line.sku or line.asin or line.external_id] += qty
    enqueue(
        merchant_id=fulfillment.merchant_id,
        kind=SHOPIFY_FULFILLMENT_KIND,
        payload={
            "fulfillment": fulfillment.pk,
            "store": store.pk,
            "lines": sorted(quantities.items()),
            "tracking_number": fulfillment.tracking_number,
            "carrier": fulfillment.carrier,
            "ship_date": fulfillment.ship_date.isoformat(),
        },
        idempotency_key=shopify_fulfillment_key(fulfillment.pk, store.pk),
        order_id=fulfillment.order_id,
    )


def record_shopify_fulfillment(fulfillment_id: int, shopify_fulfillment_id: str) -> None:
    """Shopify has it (the outbox's on_sent, in its transaction)."""
    Fulfillment.objects.filter(pk=fulfillment_id).update(
        shopify_fulfillment_id=shopify_fulfillment_id
    )


def reconcile_shopify_fulfillments(merchant_id: int, *, limit: int = RECONCILE_BATCH) -> int:
    """Queue the merchant's fulfillments that belong in its Shopify store and were never
    queued for it. Run in the merchant's scope. Returns how many were queued."""
    store = active_store(merchant_id)
    if store is None:
        return 0
    with transaction.atomic():
        missing = list(
            never_queued(
                Fulfillment.objects.filter(
                    merchant_id=merchant_id,
                    order__channel=Channel.AMAZON,
                    order__shopify_state__in=MIRROR_STATES,
                    shopify_fulfillment_id="",
                ),
                merchant_id=merchant_id,
                key=_key_parts(store.pk),
            ).order_by("id")[:limit]
        )
        for fulfillment in missing:
            enqueue_shopify_fulfillment(fulfillment, store)
        return len(missing)
