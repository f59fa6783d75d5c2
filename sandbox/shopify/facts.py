"""What the emulated store's records say: ids (Shopify's global ids), money totals and the
statuses Shopify derives from them. Read only; ``services`` writes, ``render`` shows."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.shopify.models import (
    ShopifyOrder,
)

CENT = Decimal("0.01")
PAID_KINDS = ("SALE", "CAPTURE")
TOPICS = {
    "ORDERS_CREATE": "orders/create",
    "ORDERS_UPDATED": "orders/updated",
    "ORDERS_CANCELLED": "orders/cancelled",
    "FULFILLMENTS_CREATE": "fulfillments/create",
    "REFUNDS_CREATE": "refunds/create",
}


class UserErrors(Exception):
    """Raised inside a use case's transaction to roll it back and answer with userErrors."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def user_error(field_path: list[str] | None, message: str, code: str | None = None) -> dict:
    error: dict[str, Any] = {"field": field_path, "message": message}
    if code is not None:
        error["code"] = code
    return error


# --- global ids -------------------------------------------------------------------------------


def gid(kind: str, pk: int) -> str:
    return f"gid://shopify/{kind}/{pk}"


def parse_gid(value: Any, kind: str) -> int | None:
    prefix = f"gid://shopify/{kind}/"
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    rest = value[len(prefix) :].split("?", 1)[0]
    return int(rest) if rest.isdigit() else None


# --- money and statuses -----------------------------------------------------------------------


def decimal(value: Any) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() else None


def paid_total(order: ShopifyOrder) -> Decimal:
    return sum(
        (
            t.amount
            for t in order.transactions.all()
            if t.kind in PAID_KINDS and t.status == "SUCCESS"
        ),
        Decimal("0"),
    )


def refunded_total(order: ShopifyOrder) -> Decimal:
    return sum(
        (
            t.amount
            for t in order.transactions.all()
            if t.kind == "REFUND" and t.status == "SUCCESS"
        ),
        Decimal("0"),
    )


def subtotal(order: ShopifyOrder) -> Decimal:
    return sum((li.unit_price * li.quantity for li in order.line_items.all()), Decimal("0"))


def total_price(order: ShopifyOrder) -> Decimal:
    return subtotal(order) + order.shipping_total


def refunded_shipping(order: ShopifyOrder) -> Decimal:
    return sum((r.shipping_amount for r in order.refunds.all()), Decimal("0"))


def financial_status(order: ShopifyOrder) -> str:
    paid, refunded = paid_total(order), refunded_total(order)
    if paid <= 0:
        return "VOIDED" if order.cancelled_at else "PENDING"
    if refunded <= 0:
        return "PAID" if paid >= total_price(order) else "PARTIALLY_PAID"
    return "REFUNDED" if refunded >= paid else "PARTIALLY_REFUNDED"


def fulfillment_status(order: ShopifyOrder) -> str:
    items = list(order.line_items.all())
    fulfilled = sum(li.fulfilled_quantity for li in items)
    remaining = sum(li.unfulfilled_quantity for li in items)
    if fulfilled == 0:
        if order.cancelled_at and any(li.refunded_quantity for li in items):
            return "RESTOCKED" if remaining == 0 else "UNFULFILLED"
        return "UNFULFILLED"
    return "FULFILLED" if remaining == 0 else "PARTIALLY_FULFILLED"


def fulfillment_order_status(order: ShopifyOrder) -> str:
    items = list(order.line_items.all())
    remaining = sum(li.unfulfilled_quantity for li in items)
    fulfilled = sum(li.fulfilled_quantity for li in items)
    if order.cancelled_at:
        return "CLOSED" if fulfilled and not remaining else "CANCELLED"
    if remaining == 0:
        return "CLOSED"
    return "IN_PROGRESS" if fulfilled else "OPEN"
