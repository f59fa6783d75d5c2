"""Fulfillments made in the merchant's Shopify admin (the ``fulfillments/create`` webhook, issue
12): for a mirrored Amazon order, a Keelson fulfillment of the same items with the same ship
date, carrier and tracking, which confirms the shipment on Amazon (R3) like any other. Our own
fulfillments, mirrored to Shopify and coming back, are recognised and change nothing."""

from __future__ import annotations

from fulfillment.models import Fulfillment
from fulfillment.services import Actor, ShipmentInput, fulfil_order
from integrations.models import ShopifyWebhookReceipt
from integrations.shopify.gateway import parse_datetime
from orders.models import Order, OrderLine
from orders.shopify_mirror import order_for_webhook

SHOPIFY_ADMIN = Actor.system("the merchant, in Shopify")


def _ours(order: Order, payload: dict) -> bool:
    """The fulfillment is one Keelson wrote, or took in already: its Shopify id is on ours
    (recorded in the mirror's ack, or when it was taken in), or its tracking number is."""
    gid = payload.get("admin_graphql_api_id") or ""
    if gid and Fulfillment.objects.filter(order=order, shopify_fulfillment_id=gid).exists():
        return True
    tracking = (payload.get("tracking_number") or "").strip()
    return (
        bool(tracking)
        and Fulfillment.objects.filter(order=order, tracking_number=tracking).exists()
    )


def on_fulfillment_created(receipt: ShopifyWebhookReceipt) -> str:
    payload = receipt.payload
    order = order_for_webhook(receipt.store, payload.get("order_id"))
    if order is None:
        return f"Shopify order {payload.get('order_id')} is no Amazon order of ours: nothing to do."
    if _ours(order, payload):
        return f"Fulfillment {payload.get('name') or payload.get('id')} is already in Keelson."
    by_sku = {line.sku: line for line in OrderLine.objects.filter(order=order) if line.sku}
    lines = []
    for item in payload.get("line_items") or ():
        line = by_sku.get(item.get("sku") or "")
        if line is not None and int(item.get("quantity") or 0) > 0:
            lines.append((line.pk, int(item["quantity"])))
    if not lines:
        return f"Fulfillment {payload.get('id')} names no item of order {order.external_id}."
    fulfillment = fulfil_order(
        order.pk,
        actor=SHOPIFY_ADMIN,
        lines=lines,
        shipment=ShipmentInput(
            tracking_number=(payload.get("tracking_number") or "").strip(),
            carrier=(payload.get("tracking_company") or "").strip(),
            ship_date=parse_datetime(payload.get("created_at")),
            shopify_fulfillment_id=payload.get("admin_graphql_api_id") or "",
        ),
    )
    return (
        f"Fulfilled in Shopify: Keelson fulfillment {fulfillment.package_reference} of order "
        f"{order.external_id}, confirmed on Amazon with the same tracking."
    )
