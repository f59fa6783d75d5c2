"""Rendering: GraphQL views of the emulator's rows (dicts read by graphql-core's default
resolver; a callable value is a field with arguments) and the REST-style JSON payloads that
webhooks carry."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from graphql import GraphQLError

from sandbox.shopify import facts
from sandbox.shopify.facts import CENT, gid
from sandbox.shopify.models import (
    ShopifyFulfillment,
    ShopifyLineItem,
    ShopifyOrder,
    ShopifyRefund,
    ShopifyStore,
    ShopifyTransaction,
    ShopifyWebhookSubscription,
)

MAX_PAGE = 250


def iso(moment: datetime | None) -> str | None:
    """GraphQL DateTime: ``2025-07-01T12:00:00Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rest_time(moment: datetime | None) -> str | None:
    """REST (webhook) timestamps: ``2025-07-01T12:00:00+00:00``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def amount(value: Decimal) -> str:
    return str(Decimal(value).quantize(CENT))


def money_bag(value: Decimal, currency: str) -> dict:
    money = {"amount": amount(value), "currencyCode": currency}
    return {"shopMoney": money, "presentmentMoney": dict(money)}


# --- connections ------------------------------------------------------------------------------


def encode_cursor(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except ValueError as exc:
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}") from exc
    if not isinstance(data, dict):
        raise GraphQLError(f"Invalid cursor for current pagination sort: {cursor}")
    return data


def page_size(first: int | None, last: int | None) -> int:
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    size = first if first is not None else last
    if size < 0 or size > MAX_PAGE:
        raise GraphQLError(f"The page size must be between 0 and {MAX_PAGE}")
    return size


def connection(items: list, views, first=None, after=None, last=None, before=None) -> dict:
    """A connection over an in-memory list, cursors carrying the item's position."""
    size = page_size(first, last)
    start = decode_cursor(after)["offset"] + 1 if after else 0
    end = decode_cursor(before)["offset"] if before else len(items)
    window = list(enumerate(items))[start:end]
    if first is not None:
        chosen = window[:size]
    else:
        chosen = window[-size:] if size else []
    edges = [{"cursor": encode_cursor({"offset": i}), "node": views(item)} for i, item in chosen]
    return {
        "edges": edges,
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": bool(chosen) and chosen[-1][0] < end - 1,
            "hasPreviousPage": bool(chosen) and chosen[0][0] > start,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def _list(items: list, views):
    def resolve(info, first: int | None = None, **_):
        chosen = items if first is None else items[: max(0, first)]
        return [views(i) for i in chosen]

    return resolve


def _conn(items_fn, views):
    def resolve(info, **args):
        return connection(items_fn(), views, **args)

    return resolve


# --- GraphQL views ----------------------------------------------------------------------------


def shop_view(store: ShopifyStore) -> dict:
    return {
        "id": gid("Shop", store.pk),
        "name": store.name,
        "myshopifyDomain": store.domain,
        "currencyCode": store.currency_code,
        "ianaTimezone": store.iana_timezone,
    }


def address_view(address: dict | None) -> dict | None:
    if not address:
        return None
    view = {k: address.get(k) for k in ("address1", "address2", "city", "company", "phone")}
    view.update(
        firstName=address.get("firstName"),
        lastName=address.get("lastName"),
        name=" ".join(p for p in (address.get("firstName"), address.get("lastName")) if p) or None,
        countryCodeV2=address.get("countryCode"),
        provinceCode=address.get("provinceCode"),
        zip=address.get("zip"),
    )
    return view


def line_item_view(item: ShopifyLineItem, currency: str) -> dict:
    return {
        "id": gid("LineItem", item.pk),
        "sku": item.sku or None,
        "title": item.title,
        "quantity": item.quantity,
        "currentQuantity": item.current_quantity,
        "unfulfilledQuantity": item.unfulfilled_quantity,
        "refundableQuantity": item.current_quantity,
        "originalUnitPriceSet": money_bag(item.unit_price, currency),
    }


def transaction_view(tx: ShopifyTransaction, currency: str) -> dict:
    return {
        "id": gid("OrderTransaction", tx.pk),
        "kind": tx.kind,
        "status": tx.status,
        "gateway": tx.gateway,
        "test": tx.test,
        "amountSet": money_bag(tx.amount, currency),
        "processedAt": iso(tx.processed_at),
        "createdAt": iso(tx.created_at),
        "parentTransaction": (
            transaction_view(tx.parent, currency) if tx.parent_id and tx.parent else None
        ),
    }


def order_view(order: ShopifyOrder) -> dict:
    currency = order.currency
    items = list(order.line_items.all())
    by_pk = {li.pk: li for li in items}
    transactions = list(order.transactions.select_related("parent"))
    refunds = list(order.refunds.all())
    refunded = sum(
        (t.amount for t in transactions if t.kind == "REFUND" and t.status == "SUCCESS"),
        Decimal("0"),
    )
    fo_status = facts.fulfillment_order_status(order)

    def fo_line_view(item: ShopifyLineItem) -> dict:
        return {
            "id": gid("FulfillmentOrderLineItem", item.pk),
            "sku": item.sku or None,
            "totalQuantity": item.current_quantity,
            "remainingQuantity": 0 if order.cancelled_at else item.unfulfilled_quantity,
            "lineItem": line_item_view(item, currency),
        }

    fulfillment_order = {
        "id": gid("FulfillmentOrder", order.pk),
        "status": fo_status,
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "lineItems": _conn(lambda: items, fo_line_view),
    }
    return {
        "id": gid("Order", order.pk),
        "name": order.name,
        "email": order.email or None,
        "note": order.note or None,
        "createdAt": iso(order.created_at),
        "updatedAt": iso(order.updated_at),
        "processedAt": iso(order.processed_at),
        "cancelledAt": iso(order.cancelled_at),
        "cancelReason": order.cancel_reason or None,
        "closed": False,
        "test": order.test,
        "sourceName": order.source_name or None,
        "sourceIdentifier": order.source_identifier or None,
        "tags": list(order.tags),
        "currencyCode": currency,
        "displayFinancialStatus": facts.financial_status(order),
        "displayFulfillmentStatus": facts.fulfillment_status(order),
        "subtotalPriceSet": money_bag(facts.subtotal(order), currency),
        "totalShippingPriceSet": money_bag(order.shipping_total, currency),
        "totalPriceSet": money_bag(facts.total_price(order), currency),
        "totalRefundedSet": money_bag(refunded, currency),
        "totalRefundedShippingSet": money_bag(facts.refunded_shipping(order), currency),
        "shippingAddress": address_view(order.shipping_address),
        "billingAddress": address_view(order.billing_address),
        "lineItems": _conn(lambda: items, lambda li: line_item_view(li, currency)),
        "fulfillmentOrders": _conn(lambda: [fulfillment_order], lambda fo: fo),
        "fulfillments": _list(
            list(order.fulfillments.all()), lambda f: fulfillment_view(f, by_pk, currency)
        ),
        "refunds": _list(refunds, lambda r: refund_view(r, by_pk, transactions, currency)),
        "transactions": _list(transactions, lambda t: transaction_view(t, currency)),
    }


def fulfillment_view(
    fulfillment: ShopifyFulfillment, items: dict[int, ShopifyLineItem], currency: str
) -> dict:
    tracking = []
    if fulfillment.tracking_company or fulfillment.tracking_number:
        tracking.append(
            {
                "company": fulfillment.tracking_company or None,
                "number": fulfillment.tracking_number or None,
                "url": fulfillment.tracking_url or None,
            }
        )
    lines = [
        {
            "id": gid("FulfillmentLineItem", fulfillment.pk * 1000 + i),
            "quantity": line["quantity"],
            "lineItem": line_item_view(items[line["line_item_id"]], currency),
        }
        for i, line in enumerate(fulfillment.lines)
        if line["line_item_id"] in items
    ]
    return {
        "id": gid("Fulfillment", fulfillment.pk),
        "name": f"{fulfillment.order.name}-F{fulfillment.pk}",
        "status": fulfillment.status,
        "createdAt": iso(fulfillment.created_at),
        "updatedAt": iso(fulfillment.created_at),
        "trackingInfo": _list(tracking, lambda t: t),
        "fulfillmentLineItems": _conn(lambda: lines, lambda line: line),
    }


def refund_view(
    refund: ShopifyRefund,
    items: dict[int, ShopifyLineItem],
    transactions: list[ShopifyTransaction],
    currency: str,
) -> dict:
    own = [t for t in transactions if t.refund_id == refund.pk]
    total = sum((t.amount for t in own if t.status == "SUCCESS"), Decimal("0"))
    lines = [
        {
            "id": gid("RefundLineItem", refund.pk * 1000 + i),
            "quantity": line["quantity"],
            "restockType": line["restock_type"],
            "restocked": line["restock_type"] in ("CANCEL", "RETURN"),
            "subtotalSet": money_bag(Decimal(line["subtotal"]), currency),
            "lineItem": line_item_view(items[line["line_item_id"]], currency),
        }
        for i, line in enumerate(refund.lines)
        if line["line_item_id"] in items
    ]
    return {
        "id": gid("Refund", refund.pk),
        "note": refund.note or None,
        "createdAt": iso(refund.created_at),
        "updatedAt": iso(refund.created_at),
        "totalRefundedSet": money_bag(total, currency),
        "refundLineItems": _conn(lambda: lines, lambda line: line),
        "transactions": _conn(lambda: own, lambda t: transaction_view(t, currency)),
    }


def webhook_subscription_view(subscription: ShopifyWebhookSubscription) -> dict:
    return {
        "id": gid("WebhookSubscription", subscription.pk),
        "topic": subscription.topic,
        "format": subscription.format,
        "createdAt": iso(subscription.created_at),
        "updatedAt": iso(subscription.created_at),
        "endpoint": {"__typename": "WebhookHttpEndpoint", "callbackUrl": subscription.callback_url},
        "callbackUrl": subscription.callback_url,
        "includeFields": list(subscription.include_fields),
    }


# --- REST-style webhook payloads --------------------------------------------------------------


def _rest_address(address: dict | None) -> dict | None:
    if not address:
        return None
    return {
        "first_name": address.get("firstName"),
        "last_name": address.get("lastName"),
        "name": " ".join(p for p in (address.get("firstName"), address.get("lastName")) if p),
        "company": address.get("company"),
        "address1": address.get("address1"),
        "address2": address.get("address2"),
        "city": address.get("city"),
        "province_code": address.get("provinceCode"),
        "zip": address.get("zip"),
        "country_code": address.get("countryCode"),
        "phone": address.get("phone"),
    }


def _rest_line_item(item: ShopifyLineItem) -> dict[str, Any]:
    status = None
    if item.fulfilled_quantity:
        status = "fulfilled" if item.unfulfilled_quantity == 0 else "partial"
    return {
        "id": item.pk,
        "admin_graphql_api_id": gid("LineItem", item.pk),
        "sku": item.sku or None,
        "title": item.title,
        "name": item.title,
        "quantity": item.quantity,
        "current_quantity": item.current_quantity,
        "fulfillable_quantity": item.unfulfilled_quantity,
        "fulfillment_status": status,
        "price": amount(item.unit_price),
    }


REST_FINANCIAL = {
    "PENDING": "pending",
    "AUTHORIZED": "authorized",
    "PARTIALLY_PAID": "partially_paid",
    "PAID": "paid",
    "PARTIALLY_REFUNDED": "partially_refunded",
    "REFUNDED": "refunded",
    "VOIDED": "voided",
    "EXPIRED": "expired",
}
REST_FULFILLMENT = {"FULFILLED": "fulfilled", "PARTIALLY_FULFILLED": "partial"}


def fulfillment_payload(fulfillment: ShopifyFulfillment) -> dict[str, Any]:
    items = {li.pk: li for li in fulfillment.order.line_items.all()}
    return {
        "id": fulfillment.pk,
        "admin_graphql_api_id": gid("Fulfillment", fulfillment.pk),
        "order_id": fulfillment.order_id,
        "name": f"{fulfillment.order.name}.{fulfillment.pk}",
        "status": fulfillment.status.lower(),
        "created_at": rest_time(fulfillment.created_at),
        "updated_at": rest_time(fulfillment.created_at),
        "service": "manual",
        "shipment_status": None,
        "tracking_company": fulfillment.tracking_company or None,
        "tracking_number": fulfillment.tracking_number or None,
        "tracking_numbers": [fulfillment.tracking_number] if fulfillment.tracking_number else [],
        "tracking_url": fulfillment.tracking_url or None,
        "tracking_urls": [fulfillment.tracking_url] if fulfillment.tracking_url else [],
        "notify_customer": fulfillment.notify_customer,
        "line_items": [
            {**_rest_line_item(items[line["line_item_id"]]), "quantity": line["quantity"]}
            for line in fulfillment.lines
            if line["line_item_id"] in items
        ],
    }


def _rest_transaction(tx: ShopifyTransaction) -> dict[str, Any]:
    return {
        "id": tx.pk,
        "admin_graphql_api_id": gid("OrderTransaction", tx.pk),
        "order_id": tx.order_id,
        "kind": tx.kind.lower(),
        "status": tx.status.lower(),
        "gateway": tx.gateway,
        "amount": amount(tx.amount),
        "currency": tx.order.currency,
        "parent_id": tx.parent_id,
        "processed_at": rest_time(tx.processed_at),
        "created_at": rest_time(tx.created_at),
    }


def refund_payload(refund: ShopifyRefund) -> dict[str, Any]:
    items = {li.pk: li for li in refund.order.line_items.all()}
    return {
        "id": refund.pk,
        "admin_graphql_api_id": gid("Refund", refund.pk),
        "order_id": refund.order_id,
        "created_at": rest_time(refund.created_at),
        "processed_at": rest_time(refund.created_at),
        "note": refund.note or None,
        "restock": any(line["restock_type"] != "NO_RESTOCK" for line in refund.lines),
        "refund_line_items": [
            {
                "id": refund.pk * 1000 + i,
                "line_item_id": line["line_item_id"],
                "quantity": line["quantity"],
                "restock_type": line["restock_type"].lower(),
                "subtotal": line["subtotal"],
                "line_item": _rest_line_item(items[line["line_item_id"]]),
            }
            for i, line in enumerate(refund.lines)
            if line["line_item_id"] in items
        ],
        "refund_shipping_lines": (
            [{"amount": amount(refund.shipping_amount)}] if refund.shipping_amount else []
        ),
        "transactions": [_rest_transaction(t) for t in refund.transactions.select_related("order")],
    }


def order_payload(order: ShopifyOrder, store: ShopifyStore) -> dict[str, Any]:
    order.refresh_from_db()
    items = list(order.line_items.all())
    refunded = facts.refunded_total(order)
    return {
        "id": order.pk,
        "admin_graphql_api_id": gid("Order", order.pk),
        "name": order.name,
        "order_number": order.number,
        "email": order.email or None,
        "created_at": rest_time(order.created_at),
        "updated_at": rest_time(order.updated_at),
        "processed_at": rest_time(order.processed_at),
        "cancelled_at": rest_time(order.cancelled_at),
        "cancel_reason": order.cancel_reason.lower() or None,
        "currency": order.currency,
        "financial_status": REST_FINANCIAL[facts.financial_status(order)],
        "fulfillment_status": REST_FULFILLMENT.get(facts.fulfillment_status(order)),
        "source_name": order.source_name or None,
        "source_identifier": order.source_identifier or None,
        "tags": ", ".join(order.tags),
        "test": order.test,
        "subtotal_price": amount(facts.subtotal(order)),
        "total_price": amount(facts.total_price(order)),
        "total_refunded": amount(refunded),
        "shipping_lines": [
            {"title": s["title"], "code": s["code"], "price": amount(Decimal(s["amount"]))}
            for s in order.shipping_lines
        ],
        "shipping_address": _rest_address(order.shipping_address),
        "billing_address": _rest_address(order.billing_address),
        "line_items": [_rest_line_item(li) for li in items],
        "fulfillments": [fulfillment_payload(f) for f in order.fulfillments.all()],
        "refunds": [refund_payload(r) for r in order.refunds.all()],
    }
