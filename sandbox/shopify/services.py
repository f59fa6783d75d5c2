"""What happens in the emulated store: orders, fulfillments, refunds, cancellations and webhook
subscriptions. One function per use case, each in one transaction, used alike by the GraphQL
mutations (``created_by="api"``) and by the merchant acting in the store admin through the
control API (``created_by="admin"``). Invalid input comes back as Shopify ``userErrors``
(dicts with ``field``, ``message`` and, where Shopify has one, ``code``); nothing is changed then.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import F

from sandbox.amazon.clock import parse_iso, whole_seconds
from sandbox.shopify import render, webhooks
from sandbox.shopify.facts import (
    CENT,
    PAID_KINDS,
    UserErrors,
    decimal,
    gid,
    paid_total,
    parse_gid,
    refunded_shipping,
    refunded_total,
    user_error,
)
from sandbox.shopify.models import (
    ShopifyFulfillment,
    ShopifyLineItem,
    ShopifyOrder,
    ShopifyRefund,
    ShopifyStore,
    ShopifyTransaction,
    ShopifyWebhookSubscription,
)

# --- stores -----------------------------------------------------------------------------------


def create_store(
    *,
    domain: str | None = None,
    name: str = "",
    access_token: str | None = None,
    client_secret: str | None = None,
    currency_code: str = "USD",
    iana_timezone: str = "America/New_York",
) -> ShopifyStore:
    suffix = secrets.token_hex(4)
    domain = (domain or f"keelson-sandbox-{suffix}.myshopify.com").lower()
    return ShopifyStore.objects.create(
        domain=domain,
        name=name or domain.split(".")[0],
        access_token=access_token or f"shpat_{secrets.token_hex(16)}",
        client_secret=client_secret or f"shpss_{secrets.token_hex(16)}",
        currency_code=currency_code,
        iana_timezone=iana_timezone,
    )


def locked_order(store: ShopifyStore, order_pk: int | None) -> ShopifyOrder | None:
    if order_pk is None:
        return None
    return ShopifyOrder.objects.select_for_update().filter(store=store, pk=order_pk).first()


def _touch(order: ShopifyOrder, now: datetime) -> None:
    order.updated_at = now
    ShopifyOrder.objects.filter(pk=order.pk).update(updated_at=now)


def _order_webhooks(store: ShopifyStore, order: ShopifyOrder, topics: list[str], now) -> None:
    payload = render.order_payload(order, store)
    for topic in topics:
        webhooks.enqueue(store, topic, payload, now)


# --- orderCreate ------------------------------------------------------------------------------


@dataclass
class OrderCreated:
    order: ShopifyOrder | None
    errors: list[dict] = field(default_factory=list)


def _money_input(value: Any, path: list[str], errors: list[dict], currency: str) -> Decimal | None:
    shop_money = (value or {}).get("shopMoney") or {}
    amount = decimal(shop_money.get("amount"))
    if amount is None:
        errors.append(user_error([*path, "shopMoney", "amount"], "Amount is invalid", "INVALID"))
        return None
    if shop_money.get("currencyCode") and shop_money["currencyCode"] != currency:
        errors.append(
            user_error(
                [*path, "shopMoney", "currencyCode"],
                f"Currency {shop_money['currencyCode']} does not match the order's {currency}",
                "CURRENCY_MISMATCH",
            )
        )
        return None
    if amount < 0:
        errors.append(user_error([*path, "shopMoney", "amount"], "Amount must be >= 0", "INVALID"))
        return None
    return amount.quantize(CENT)


def create_order(
    store: ShopifyStore,
    data: dict,
    options: dict | None,
    now: datetime,
    *,
    created_by: str = "api",
) -> OrderCreated:
    options = options or {}
    errors: list[dict] = []
    currency = data.get("currency") or store.currency_code
    lines = data.get("lineItems") or []
    if not lines:
        errors.append(user_error(["order", "lineItems"], "Line items can't be blank", "REQUIRED"))
    line_specs = []
    for i, line in enumerate(lines):
        path = ["order", "lineItems", str(i)]
        if not (line.get("title") or line.get("sku")):
            errors.append(user_error([*path, "title"], "Title can't be blank", "REQUIRED"))
        if int(line.get("quantity") or 0) < 1:
            errors.append(
                user_error([*path, "quantity"], "Quantity must be greater than 0", "INVALID")
            )
        price = Decimal("0")
        if line.get("priceSet") is not None:
            price = _money_input(line["priceSet"], [*path, "priceSet"], errors, currency)
        line_specs.append((line, price))
    shipping_lines = []
    for i, line in enumerate(data.get("shippingLines") or []):
        path = ["order", "shippingLines", str(i), "priceSet"]
        amount = _money_input(line.get("priceSet"), path, errors, currency)
        shipping_lines.append(
            {"title": line.get("title", ""), "code": line.get("code") or "", "amount": str(amount)}
        )
    transactions = []
    for i, tx in enumerate(data.get("transactions") or []):
        path = ["order", "transactions", str(i), "amountSet"]
        amount = _money_input(tx.get("amountSet"), path, errors, currency)
        transactions.append((tx, amount))
    tags = [t.strip() for t in (data.get("tags") or []) if t and t.strip()]
    if len(data.get("sourceIdentifier") or "") > 200:
        errors.append(
            user_error(["order", "sourceIdentifier"], "Source identifier is too long", "TOO_LONG")
        )
    if errors:
        return OrderCreated(None, errors)
    with transaction.atomic():
        store = ShopifyStore.objects.select_for_update().get(pk=store.pk)
        number = store.next_order_number
        ShopifyStore.objects.filter(pk=store.pk).update(
            next_order_number=F("next_order_number") + 1
        )
        order = ShopifyOrder.objects.create(
            store=store,
            number=number,
            email=data.get("email") or "",
            note=data.get("note") or "",
            source_name=data.get("sourceName")
            or ("shopify_draft_order" if created_by == "admin" else "api"),
            source_identifier=data.get("sourceIdentifier") or "",
            source_url=data.get("sourceUrl") or "",
            tags=sorted(set(tags), key=str.lower),
            currency=currency,
            test=bool(data.get("test")),
            shipping_address=data.get("shippingAddress"),
            billing_address=data.get("billingAddress"),
            shipping_lines=shipping_lines,
            inventory_behaviour=options.get("inventoryBehaviour") or "BYPASS",
            send_receipt=bool(options.get("sendReceipt")),
            send_fulfillment_receipt=bool(options.get("sendFulfillmentReceipt")),
            processed_at=_parse_time(data.get("processedAt")) or now,
            created_at=now,
            updated_at=now,
            created_by=created_by,
        )
        ShopifyLineItem.objects.bulk_create(
            ShopifyLineItem(
                order=order,
                position=i,
                sku=line.get("sku") or "",
                title=line.get("title") or line.get("sku") or "",
                quantity=int(line["quantity"]),
                unit_price=price,
            )
            for i, (line, price) in enumerate(line_specs)
        )
        for tx, amount in transactions:
            ShopifyTransaction.objects.create(
                order=order,
                kind=tx.get("kind") or "SALE",
                status=tx.get("status") or "SUCCESS",
                gateway=tx.get("gateway") or "manual",
                test=bool(tx.get("test")),
                amount=amount,
                processed_at=_parse_time(tx.get("processedAt")) or now,
                created_at=now,
            )
        _order_webhooks(store, order, ["orders/create"], now)
    return OrderCreated(order)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None

    return whole_seconds(parse_iso(str(value)))


# --- fulfillmentCreate ------------------------------------------------------------------------


def create_fulfillment(
    store: ShopifyStore, data: dict, now: datetime, *, message: str = "", created_by: str = "api"
) -> tuple[ShopifyFulfillment | None, list[dict]]:
    groups = data.get("lineItemsByFulfillmentOrder") or []
    if not groups:
        return None, [
            user_error(["fulfillment", "lineItemsByFulfillmentOrder"], "must not be empty")
        ]
    try:
        with transaction.atomic():
            fulfillment = _fulfil(store, groups, data, now, message, created_by)
    except UserErrors as exc:
        return None, exc.errors
    return fulfillment, []


def _fulfil(store, groups, data, now, message, created_by) -> ShopifyFulfillment:
    # One location, so one fulfillment order per order: its id is the order's, and its line
    # items' ids are the line items' (docs/sandbox-shopify.md).
    order_pks = {parse_gid(g.get("fulfillmentOrderId"), "FulfillmentOrder") for g in groups}
    if None in order_pks or len(order_pks) != 1:
        raise UserErrors(
            [
                user_error(
                    ["fulfillment", "lineItemsByFulfillmentOrder", "0", "fulfillmentOrderId"],
                    "Fulfillment order does not exist.",
                )
            ]
        )
    order = locked_order(store, order_pks.pop())
    if order is None:
        raise UserErrors(
            [
                user_error(
                    ["fulfillment", "lineItemsByFulfillmentOrder", "0", "fulfillmentOrderId"],
                    "Fulfillment order does not exist.",
                )
            ]
        )
    if order.cancelled_at:
        raise UserErrors([user_error(None, "Fulfillment order is not in a fulfillable state.")])
    items = {li.pk: li for li in ShopifyLineItem.objects.select_for_update().filter(order=order)}
    wanted: dict[int, int] = {}
    for gi, group in enumerate(groups):
        lines = group.get("fulfillmentOrderLineItems")
        if lines is None:  # all that remains of this fulfillment order
            for li in items.values():
                if li.unfulfilled_quantity:
                    wanted[li.pk] = wanted.get(li.pk, 0) + li.unfulfilled_quantity
            continue
        for i, line in enumerate(lines):
            path = [
                "fulfillment",
                "lineItemsByFulfillmentOrder",
                str(gi),
                "fulfillmentOrderLineItems",
                str(i),
            ]
            pk = parse_gid(line.get("id"), "FulfillmentOrderLineItem")
            if pk not in items:
                raise UserErrors(
                    [user_error([*path, "id"], "Fulfillment order line item does not exist.")]
                )
            if int(line["quantity"]) < 1:
                raise UserErrors(
                    [user_error([*path, "quantity"], "Quantity must be greater than 0.")]
                )
            wanted[pk] = wanted.get(pk, 0) + int(line["quantity"])
    for pk, quantity in wanted.items():
        if quantity > items[pk].unfulfilled_quantity:
            raise UserErrors(
                [
                    user_error(
                        ["fulfillment", "lineItemsByFulfillmentOrder"],
                        f"Invalid fulfillment order line item quantity requested: line item "
                        f"{gid('FulfillmentOrderLineItem', pk)} has "
                        f"{items[pk].unfulfilled_quantity} remaining, {quantity} requested.",
                    )
                ]
            )
    if not wanted or not any(wanted.values()):
        raise UserErrors([user_error(None, "Fulfillment order has no remaining line items.")])
    tracking = data.get("trackingInfo") or {}
    number = tracking.get("number") or (tracking.get("numbers") or [None])[0] or ""
    url = tracking.get("url") or (tracking.get("urls") or [None])[0] or ""
    fulfillment = ShopifyFulfillment.objects.create(
        order=order,
        tracking_company=tracking.get("company") or "",
        tracking_number=number,
        tracking_url=url,
        notify_customer=bool(data.get("notifyCustomer")),
        message=message or "",
        lines=[{"line_item_id": pk, "quantity": q} for pk, q in sorted(wanted.items())],
        created_by=created_by,
        created_at=now,
    )
    for pk, quantity in wanted.items():
        ShopifyLineItem.objects.filter(pk=pk).update(
            fulfilled_quantity=F("fulfilled_quantity") + quantity
        )
    _touch(order, now)
    webhooks.enqueue(store, "fulfillments/create", render.fulfillment_payload(fulfillment), now)
    _order_webhooks(store, order, ["orders/updated"], now)
    return fulfillment


# --- refundCreate -----------------------------------------------------------------------------


def create_refund(
    store: ShopifyStore, data: dict, now: datetime, *, created_by: str = "api"
) -> tuple[ShopifyRefund | None, list[dict]]:
    try:
        with transaction.atomic():
            refund = _refund(store, data, now, created_by)
    except UserErrors as exc:
        return None, exc.errors
    return refund, []


def _refund(store, data, now, created_by) -> ShopifyRefund:
    order = locked_order(store, parse_gid(data.get("orderId"), "Order"))
    if order is None:
        raise UserErrors([user_error(["orderId"], "Order does not exist")])
    items = {li.pk: li for li in ShopifyLineItem.objects.select_for_update().filter(order=order)}
    lines = []
    for i, line in enumerate(data.get("refundLineItems") or []):
        path = ["refundLineItems", str(i)]
        pk = parse_gid(line.get("lineItemId"), "LineItem")
        if pk not in items:
            raise UserErrors([user_error([*path, "lineItemId"], "Line item does not exist")])
        quantity = int(line["quantity"])
        item = items[pk]
        if quantity < 1 or quantity > item.current_quantity:
            raise UserErrors(
                [
                    user_error(
                        [*path, "quantity"],
                        f"Quantity cannot refund more items than were purchased "
                        f"({item.current_quantity} refundable, {quantity} requested)",
                    )
                ]
            )
        restock = line.get("restockType") or "NO_RESTOCK"
        lines.append(
            {
                "line_item_id": pk,
                "quantity": quantity,
                "restock_type": restock,
                "subtotal": str((item.unit_price * quantity).quantize(CENT)),
            }
        )
    shipping = data.get("shipping") or {}
    shipping_amount = Decimal("0")
    shipping_left = order.shipping_total - refunded_shipping(order)
    if shipping.get("fullRefund"):
        shipping_amount = shipping_left
    elif shipping.get("amount") is not None:
        shipping_amount = decimal(shipping["amount"])
        if shipping_amount is None or shipping_amount < 0:
            raise UserErrors([user_error(["shipping", "amount"], "Amount is invalid")])
    if shipping_amount > shipping_left:
        raise UserErrors(
            [
                user_error(
                    ["shipping", "amount"],
                    f"Shipping refund amount {shipping_amount} exceeds the refundable shipping "
                    f"{shipping_left}",
                )
            ]
        )
    refundable = paid_total(order) - refunded_total(order)
    sale = next(
        (t for t in order.transactions.all() if t.kind in PAID_KINDS and t.status == "SUCCESS"),
        None,
    )
    transactions = []
    for i, tx in enumerate(data.get("transactions") or []):
        path = ["transactions", str(i)]
        amount = decimal(tx.get("amount"))
        if amount is None or amount <= 0:
            raise UserErrors([user_error([*path, "amount"], "Amount must be greater than 0")])
        if tx.get("kind") != "REFUND":
            raise UserErrors([user_error([*path, "kind"], "Kind must be refund")])
        if parse_gid(tx.get("orderId"), "Order") != order.pk:
            raise UserErrors([user_error([*path, "orderId"], "Order does not match")])
        parent = sale
        if tx.get("parentId"):
            parent_pk = parse_gid(tx["parentId"], "OrderTransaction")
            parent = next((t for t in order.transactions.all() if t.pk == parent_pk), None)
            if parent is None:
                raise UserErrors([user_error([*path, "parentId"], "Parent does not exist")])
        transactions.append((tx, amount.quantize(CENT), parent))
    total = sum((a for _, a, _ in transactions), Decimal("0"))
    if total > refundable:
        raise UserErrors(
            [
                user_error(
                    ["transactions"],
                    f"Refund amount {total} is greater than the net payment "
                    f"{refundable.quantize(CENT)} of the order",
                )
            ]
        )
    if not lines and not transactions and shipping_amount == 0:
        raise UserErrors([user_error(None, "Refund must contain line items or an amount")])
    refund = ShopifyRefund.objects.create(
        order=order,
        note=data.get("note") or "",
        notify=bool(data.get("notify")),
        shipping_amount=shipping_amount,
        lines=lines,
        created_by=created_by,
        created_at=now,
    )
    for tx, amount, parent in transactions:
        ShopifyTransaction.objects.create(
            order=order,
            refund=refund,
            parent=parent,
            kind="REFUND",
            status="SUCCESS",
            gateway=tx.get("gateway") or "manual",
            amount=amount,
            processed_at=now,
            created_at=now,
        )
    for line in lines:
        ShopifyLineItem.objects.filter(pk=line["line_item_id"]).update(
            refunded_quantity=F("refunded_quantity") + line["quantity"]
        )
    _touch(order, now)
    webhooks.enqueue(store, "refunds/create", render.refund_payload(refund), now)
    _order_webhooks(store, order, ["orders/updated"], now)
    return refund


# --- orderCancel ------------------------------------------------------------------------------


def cancel_order(
    store: ShopifyStore,
    order_id: str,
    *,
    reason: str,
    refund: bool,
    restock: bool,
    notify_customer: bool,
    staff_note: str = "",
    now: datetime,
    created_by: str = "api",
) -> list[dict]:
    try:
        with transaction.atomic():
            _cancel(store, order_id, reason, refund, restock, now, created_by, staff_note)
    except UserErrors as exc:
        return exc.errors
    return []


def _cancel(store, order_id, reason, refund, restock, now, created_by, staff_note) -> None:
    order = locked_order(store, parse_gid(order_id, "Order"))
    if order is None:
        raise UserErrors([user_error(["orderId"], "Order does not exist", "NOT_FOUND")])
    if order.cancelled_at:
        raise UserErrors([user_error(["orderId"], "Order has already been cancelled", "INVALID")])
    items = list(ShopifyLineItem.objects.select_for_update().filter(order=order))
    if refund:
        left = paid_total(order) - refunded_total(order)
        lines = [
            {
                "lineItemId": gid("LineItem", li.pk),
                "quantity": li.unfulfilled_quantity,
                "restockType": "CANCEL" if restock else "NO_RESTOCK",
            }
            for li in items
            if li.unfulfilled_quantity
        ]
        refund_data: dict[str, Any] = {
            "orderId": gid("Order", order.pk),
            "note": staff_note,
            "refundLineItems": lines,
            "shipping": {"fullRefund": True},
        }
        if left > 0:
            refund_data["transactions"] = [
                {
                    "amount": str(left),
                    "gateway": "manual",
                    "kind": "REFUND",
                    "orderId": gid("Order", order.pk),
                }
            ]
        if lines or left > 0:
            _refund(store, refund_data, now, created_by)
    order.cancelled_at = now
    order.cancel_reason = reason
    order.updated_at = now
    ShopifyOrder.objects.filter(pk=order.pk).update(
        cancelled_at=now, cancel_reason=reason, updated_at=now
    )
    _order_webhooks(store, order, ["orders/cancelled", "orders/updated"], now)


# --- webhook subscriptions --------------------------------------------------------------------


def subscribe(
    store: ShopifyStore, topic: str, data: dict, now: datetime
) -> tuple[ShopifyWebhookSubscription | None, list[dict]]:
    url = data.get("callbackUrl") or ""
    if not url.startswith(("http://", "https://")):
        return None, [user_error(["webhookSubscription", "callbackUrl"], "Address is invalid")]
    if (data.get("format") or "JSON") != "JSON":
        return None, [
            user_error(["webhookSubscription", "format"], "The emulator delivers JSON only")
        ]
    with transaction.atomic():
        if ShopifyWebhookSubscription.objects.filter(
            store=store, topic=topic, callback_url=url
        ).exists():
            return None, [
                user_error(
                    ["webhookSubscription", "callbackUrl"],
                    "Address for this topic has already been taken",
                )
            ]
        subscription = ShopifyWebhookSubscription.objects.create(
            store=store,
            topic=topic,
            callback_url=url,
            format="JSON",
            include_fields=list(data.get("includeFields") or []),
            created_at=now,
        )
    return subscription, []
