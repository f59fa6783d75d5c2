"""Refunds and cancellations made in the merchant's Shopify admin (the ``refunds/create`` and
``orders/cancelled`` webhooks, issue 12), for mirrored Amazon orders:

- a refund becomes a Keelson refund of the same lines (and shipping), sent to Amazon (R6) like
  any other; refused when Amazon already refunded the order outside Keelson, or by any other
  rule, it is reported back: on the order's timeline and to the merchant, in plain words;
- a cancellation follows R7: the order is cancelled on Amazon with the refund it implies (the
  amount Shopify refunded, or all of it), through ``cancel_order``.

Our own refunds and cancellations, mirrored to Shopify and coming back, carry our marker
("Keelson refund #N", ``refunds.shopify.marker``) and change nothing; a webhook sent again
finds its refund by the idempotency key and changes nothing either.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from foundation.api.errors import DomainError
from foundation.text import N_
from integrations.models import ShopifyWebhookReceipt
from integrations.shopify.inbound import Failed
from notifications.models import NotificationKind
from notifications.services import notify_merchant
from orders.models import ActorType, EventKind, Order, OrderEvent, OrderLine
from orders.shopify_mirror import order_for_webhook
from refunds import policy
from refunds.models import Refund, RefundKind, ShopifySync
from refunds.services import Actor, cancel_order, create_refund
from refunds.shopify import MARKER_PREFIX
from tenants.models import Merchant

SHOPIFY_ADMIN = Actor.system("the merchant, in Shopify")


def _decimal(value: object) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def _report_refusal(order: Order, what: str, exc: DomainError) -> Failed:
    text = f"{what} in Shopify was not applied in Keelson: {exc.message}"
    OrderEvent.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        kind=EventKind.NOTE,
        message=text,
        actor_type=ActorType.SYSTEM,
        actor="Shopify",
        data={"code": exc.code, "source": "shopify"},
    )
    notify_merchant(
        Merchant.objects.get(pk=order.merchant_id),
        NotificationKind.GENERAL,
        N_(
            "Order %(external_id)s: %(lower)s in Shopify was refused",
            external_id=order.external_id,
            lower=what.lower(),
        ),
        text,
        order,
    )
    return Failed(text)


def _made_in_shopify(refund: Refund) -> None:
    """Shopify has it already: it must not be written there a second time."""
    Refund.objects.filter(pk=refund.pk).update(shopify_sync=ShopifySync.SYNCED)


def on_refund_created(receipt: ShopifyWebhookReceipt) -> str:
    payload = receipt.payload
    order = order_for_webhook(receipt.store, payload.get("order_id"))
    if order is None:
        return f"Shopify order {payload.get('order_id')} is no Amazon order of ours: nothing to do."
    if (payload.get("note") or "").startswith(MARKER_PREFIX):
        return "A refund Keelson made, back from Shopify: nothing to do."
    key = f"shopify-refund:{receipt.store_id}:{payload.get('id')}"
    if Refund.objects.filter(order=order, idempotency_key=key).exists():
        return f"Shopify refund {payload.get('id')} is already in Keelson."
    by_sku = {line.sku: line for line in OrderLine.objects.filter(order=order) if line.sku}
    lines = []
    for item in payload.get("refund_line_items") or ():
        sku = (item.get("line_item") or {}).get("sku") or ""
        line = by_sku.get(sku)
        quantity = int(item.get("quantity") or 0)
        if line is not None and quantity > 0:
            lines.append(policy.RequestedLine(line.pk, quantity, _decimal(item.get("subtotal"))))
    shipping = sum(
        (
            _decimal(s.get("amount")) or Decimal("0")
            for s in payload.get("refund_shipping_lines") or ()
        ),
        Decimal("0"),
    )
    try:
        refund = create_refund(
            order.pk,
            actor=SHOPIFY_ADMIN,
            lines=lines,
            shipping_amount=shipping or None,
            note=f"Refunded in Shopify (refund {payload.get('id')})",
            idempotency_key=key,
        )
    except DomainError as exc:
        return _report_refusal(order, "A refund", exc)
    _made_in_shopify(refund)
    return N_(
        "Refunded in Shopify: Keelson refund #%(refund)s of order %(external_id)s, sent to Amazon.",
        refund=refund.pk,
        external_id=order.external_id,
    )


def on_order_cancelled(receipt: ShopifyWebhookReceipt) -> str:
    payload = receipt.payload
    order = order_for_webhook(receipt.store, payload.get("id"))
    if order is None:
        return f"Shopify order {payload.get('id')} is no Amazon order of ours: nothing to do."
    if Refund.objects.filter(order=order, kind=RefundKind.CANCELLATION).exists():
        return f"Order {order.external_id} is already cancelled in Keelson."
    refunded = _decimal(payload.get("total_refunded"))
    try:
        cancellation = cancel_order(
            order.pk,
            actor=SHOPIFY_ADMIN,
            reason=policy.CancelReason.GENERAL_ADJUSTMENT,
            refund=refunded if refunded else None,
            note="Cancelled in Shopify",
            idempotency_key=f"shopify-cancel:{receipt.store_id}:{payload.get('id')}",
        )
    except DomainError as exc:
        return _report_refusal(order, "A cancellation", exc)
    _made_in_shopify(cancellation)
    return N_(
        "Cancelled in Shopify: order %(external_id)s cancelled on Amazon with a refund "
        "(Keelson #%(cancellation)s, R7).",
        external_id=order.external_id,
        cancellation=cancellation.pk,
    )
