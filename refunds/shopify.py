"""Writing a refund or a cancellation to the order's Shopify mirror: the outbox handler's work
(I/O only; the outcome is a refunds.services call in the outbox's transaction).

Exactly once: every refund Keelson writes carries ``Keelson refund #<id>`` in its note, and a
cancellation is recognised by the order being cancelled, so a retry after a timeout or a lost
ack reads the order first and finds what an earlier attempt did. The buyer is never notified
(R4: ``notify``/``notifyCustomer`` false, always, in the gateway).

- A refund: ``refundCreate`` with its lines by SKU (``NO_RESTOCK``: the items shipped),
  its shipping and its money (at most what Shopify still holds as paid).
- A cancellation of the whole order: ``orderCancel`` with restock. When Keelson refunded all
  that is left of the payment, the cancellation refunds it (``refund: true``); when it refunded
  less (R7 allows any amount above 0), ``refundCreate`` first gives back exactly Keelson's
  amount (lines restocked as ``CANCEL``), then ``orderCancel`` without a refund.
- A cancellation of some lines: ``refundCreate`` of those lines (``CANCEL``) and the amount.
- An order Amazon cancelled itself (no Keelson refund): ``orderCancel`` with restock and the
  refund of what Shopify holds as paid (Amazon charged nothing, or gave it back); found
  already cancelled, it changes nothing.
"""

from __future__ import annotations

from decimal import Decimal

from integrations.outbox.errors import PermanentDeliveryError
from integrations.shopify import delivery
from integrations.shopify.errors import ShopifyError
from integrations.shopify.gateway import ShopifyGateway
from integrations.shopify.records import RefundLine, RefundRequest, ShopifyOrder
from orders.models import Order
from orders.shopify_mirror import order_in_store
from refunds.models import Refund
from refunds.policy import CancelReason

# Amazon's CancelReason -> Shopify's OrderCancelReason.
CANCEL_REASONS = {
    CancelReason.NO_INVENTORY: "INVENTORY",
    CancelReason.BUYER_CANCELED: "CUSTOMER",
    CancelReason.CUSTOMER_EXCHANGE: "CUSTOMER",
    CancelReason.RISK_ASSESSMENT_INFORMATION_NOT_VALID: "FRAUD",
}


# Every refund Keelson writes to Shopify carries this in its note, so that one coming back
# (the refunds/create webhook) is recognised as ours.
MARKER_PREFIX = "Keelson refund #"


def marker(refund: Refund) -> str:
    return f"{MARKER_PREFIX}{refund.pk}"


def deliver(refund_id: int, store_id: int) -> dict:
    store = delivery.store_for_delivery(store_id)
    refund = Refund.objects.select_related("order").filter(pk=refund_id).first()
    if refund is None:
        raise PermanentDeliveryError("The refund is gone.", code="no_refund")
    what = "the cancellation" if refund.is_cancellation else "the refund"
    gateway = delivery.gateway_for_delivery(store)
    try:
        mirrored = order_in_store(refund.order, store, gateway, what=what)
        result = _write(gateway, refund, mirrored)
    except ShopifyError as exc:
        delivery.plain_error(exc, store)
        raise
    return {
        **result,
        "store": store.shop_domain,
        "shopify_order_id": mirrored.id,
        "order_name": mirrored.name,
    }


def deliver_amazon_cancellation(order_id: int, store_id: int) -> dict:
    store = delivery.store_for_delivery(store_id)
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise PermanentDeliveryError("The order is gone.", code="no_order")
    gateway = delivery.gateway_for_delivery(store)
    try:
        mirrored = order_in_store(order, store, gateway, what="its cancellation")
        found = mirrored.cancelled_at is not None
        if not found:
            gateway.cancel_order(
                mirrored.id,
                reason="OTHER",
                refund=True,
                restock=True,
                staff_note=f"Cancelled on Amazon (order {order.external_id}); Keelson",
            )
    except ShopifyError as exc:
        delivery.plain_error(exc, store)
        raise
    return {
        "cancelled": True,
        "found_existing": found,
        "store": store.shop_domain,
        "shopify_order_id": mirrored.id,
        "order_name": mirrored.name,
    }


def _write(gateway: ShopifyGateway, refund: Refund, mirrored: ShopifyOrder) -> dict:
    note = marker(refund)
    existing = next(
        (r for r in mirrored.refunds or () if r.note.startswith(note)), None
    )  # an earlier attempt's refund
    if refund.is_cancellation and refund.full_cancellation:
        if mirrored.cancelled_at is not None:
            return {"cancelled": True, "found_existing": True}
        refund_id = existing.id if existing else None
        reason = CANCEL_REASONS.get(refund.cancel_reason, "OTHER")
        if existing is None and refund.total < _refundable(mirrored):
            # Keelson refunded less than the order's payment: exactly that, then cancel.
            refund_id = gateway.create_refund(mirrored.id, _request(refund, mirrored))
            gateway.cancel_order(
                mirrored.id, reason=reason, refund=False, restock=True, staff_note=note
            )
        else:
            gateway.cancel_order(
                mirrored.id, reason=reason, refund=existing is None, restock=True, staff_note=note
            )
        return {"cancelled": True, "shopify_refund_id": refund_id, "found_existing": False}
    if existing is not None:
        return {"shopify_refund_id": existing.id, "found_existing": True}
    refund_id = gateway.create_refund(mirrored.id, _request(refund, mirrored))
    return {"shopify_refund_id": refund_id, "found_existing": False}


def _refundable(mirrored: ShopifyOrder) -> Decimal:
    total = mirrored.total_price.amount if mirrored.total_price else Decimal("0")
    refunded = mirrored.total_refunded.amount if mirrored.total_refunded else Decimal("0")
    return max(Decimal("0"), total - refunded)


def _request(refund: Refund, mirrored: ShopifyOrder) -> RefundRequest:
    restock = "CANCEL" if refund.is_cancellation else "NO_RESTOCK"
    lines = []
    for line in refund.lines.select_related("order_line").order_by("id"):
        if line.quantity <= 0 or line.order_line is None:
            continue
        ordered = line.order_line
        sku = ordered.sku or ordered.asin or ordered.external_id
        lines.append(RefundLine(sku=sku, quantity=line.quantity, restock_type=restock))
    amount = min(refund.total, _refundable(mirrored))
    note = marker(refund) + (f": {refund.note}" if refund.note else "")
    return RefundRequest(
        lines=tuple(lines),
        amount=amount if amount > 0 else None,
        shipping_amount=refund.shipping_amount or None,
        note=note,
    )
