"""The life of an order, as pure rules over model instances (no queries here).

An order carries a script of timed events (``pending_until``, ``buyer_cancel_at``,
``afn_ship_at``, ``auto_cancel_at``). ``apply_due`` plays the events due by a moment, in time
order, each stamped with its own scheduled time: the state at a virtual time is therefore the
same whenever it is computed (lazily before a read, or when the clock is advanced).

Rules (docs/rules.md): A1 a new order is Pending for 30 minutes; A2 verification may keep it
Pending up to 21 days and then it becomes Unshipped or Canceled; A8 an MFN order not confirmed
within 30 days of its purchase date is cancelled by Amazon; B1-B3 a buyer's cancellation request
flags the open items (``BuyerRequestedCancel``); AFN orders are shipped by Amazon.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sandbox.amazon import marketplaces
from sandbox.amazon.models import AmazonOrder, AmazonOrderItem, AmazonPackage

LEAVE_PENDING = "leave_pending"
BUYER_CANCEL = "buyer_cancel"
AFN_SHIP = "afn_ship"
AUTO_CANCEL = "auto_cancel"
# Same-second events run in this order.
_RANK = {LEAVE_PENDING: 0, BUYER_CANCEL: 1, AFN_SHIP: 2, AUTO_CANCEL: 3}
_FIELD = {
    LEAVE_PENDING: "pending_until",
    BUYER_CANCEL: "buyer_cancel_at",
    AFN_SHIP: "afn_ship_at",
    AUTO_CANCEL: "auto_cancel_at",
}

PAYMENT_DECLINED_REASON = "Payment could not be authorized"
NOT_CONFIRMED_REASON = "Shipment not confirmed within the deadline"

ORDER_FIELDS_CHANGED_BY_EVENTS = [
    "status",
    "last_update_date",
    "payment_authorized",
    "canceled_by",
    "cancel_reason",
    "pending_until",
    "buyer_cancel_at",
    "afn_ship_at",
    "auto_cancel_at",
    "next_event_at",
]
ITEM_FIELDS_CHANGED_BY_EVENTS = [
    "quantity_shipped",
    "quantity_canceled",
    "buyer_cancel_requested",
    "buyer_cancel_reason",
    "buyer_cancel_requested_at",
]


@dataclass
class Outcome:
    """What playing events changed, for bulk writes."""

    orders: list[AmazonOrder] = field(default_factory=list)
    items: list[AmazonOrderItem] = field(default_factory=list)
    packages: list[AmazonPackage] = field(default_factory=list)


def scheduled_events(order: AmazonOrder) -> list[tuple[datetime, str]]:
    events = [(getattr(order, f), kind) for kind, f in _FIELD.items() if getattr(order, f)]
    return sorted(events, key=lambda e: (e[0], _RANK[e[1]]))


def refresh_next_event(order: AmazonOrder) -> None:
    events = scheduled_events(order)
    order.next_event_at = events[0][0] if events else None


def derive_status(order: AmazonOrder, items: Iterable[AmazonOrderItem]) -> str:
    items = list(items)
    if items and all(i.quantity_canceled >= i.quantity_ordered for i in items):
        return "Canceled"
    if not order.payment_authorized:
        return "Pending"
    shipped = sum(i.quantity_shipped for i in items)
    open_qty = sum(i.quantity_open for i in items)
    if shipped and not open_qty:
        return "Shipped"
    if shipped:
        return "PartiallyShipped"
    return "Unshipped"


def touch(order: AmazonOrder, at: datetime) -> None:
    """Every change bumps LastUpdateDate (never backwards)."""
    if order.last_update_date is None or at > order.last_update_date:
        order.last_update_date = at


def cancel_open_quantities(
    order: AmazonOrder,
    items: Iterable[AmazonOrderItem],
    *,
    by: str,
    reason: str,
    at: datetime,
) -> bool:
    changed = False
    for item in items:
        if item.quantity_open > 0:
            item.quantity_canceled += item.quantity_open
            changed = True
    if changed:
        order.canceled_by = by
        order.cancel_reason = reason
        order.status = derive_status(order, order_items(order))
        touch(order, at)
    return changed


def order_items(order: AmazonOrder) -> list[AmazonOrderItem]:
    """The order's items as loaded (prefetched) or attached by the caller."""
    cached = getattr(order, "_items", None)
    if cached is not None:
        return cached
    items = list(order.items.all())
    order._items = items  # type: ignore[attr-defined]
    return items


def ship_by_amazon(order: AmazonOrder, at: datetime, outcome: Outcome) -> bool:
    items = [i for i in order_items(order) if i.quantity_open > 0]
    if not items:
        return False
    market = marketplaces.get(order.marketplace_id)
    carrier = market.afn_carrier if market else "AMZN"
    number = sum(ord(c) for c in order.amazon_order_id) * 7919 + len(order.amazon_order_id)
    package = AmazonPackage(
        order=order,
        package_reference_id=f"AFN-{order.packages.count() + 1 if order.pk else 1}",
        carrier_code=carrier,
        carrier_name=carrier,
        shipping_method="Standard",
        tracking_number=f"TBA{number:012d}",
        ship_date=at,
        items=[{"orderItemId": i.order_item_id, "quantity": i.quantity_open} for i in items],
        shipped_by="AMAZON",
        created_at=at,
    )
    for item in items:
        item.quantity_shipped += item.quantity_open
    outcome.packages.append(package)
    order.status = derive_status(order, order_items(order))
    touch(order, at)
    return True


def apply_event(order: AmazonOrder, kind: str, at: datetime, outcome: Outcome) -> bool:
    """Play one scheduled event; returns whether the order changed."""
    setattr(order, _FIELD[kind], None)
    items = order_items(order)
    status = derive_status(order, items)
    if kind == LEAVE_PENDING:
        if status != "Pending":
            return False
        if order.pending_outcome == "Canceled":
            return cancel_open_quantities(
                order, items, by="AMAZON", reason=PAYMENT_DECLINED_REASON, at=at
            )
        order.payment_authorized = True
        order.status = derive_status(order, items)
        touch(order, at)
        return True
    if kind == BUYER_CANCEL:
        return request_buyer_cancellation(order, order.buyer_cancel_reason, at)
    if kind == AFN_SHIP:
        if order.fulfillment_channel != "AFN" or status not in ("Unshipped", "PartiallyShipped"):
            return False
        return ship_by_amazon(order, at, outcome)
    if kind == AUTO_CANCEL:
        if order.fulfillment_channel != "MFN" or status not in ("Unshipped", "PartiallyShipped"):
            return False
        return cancel_open_quantities(order, items, by="AMAZON", reason=NOT_CONFIRMED_REASON, at=at)
    raise ValueError(kind)


def request_buyer_cancellation(
    order: AmazonOrder, reason: str, at: datetime, item_ids: Iterable[str] | None = None
) -> bool:
    """B1-B3: a buyer asks to cancel. A Pending order (or an AFN one) is cancelled by Amazon at
    once; on an MFN order that can ship, the open items are flagged for the seller."""
    items = order_items(order)
    status = derive_status(order, items)
    if status == "Pending" or (
        order.fulfillment_channel == "AFN" and status in ("Unshipped", "PartiallyShipped")
    ):
        return cancel_open_quantities(order, items, by="BUYER", reason=reason, at=at)
    if status not in ("Unshipped", "PartiallyShipped"):
        return False
    wanted = set(item_ids) if item_ids else None
    changed = False
    for item in items:
        if wanted is not None and item.order_item_id not in wanted:
            continue
        if item.quantity_open > 0 and not item.buyer_cancel_requested:
            item.buyer_cancel_requested = True
            item.buyer_cancel_reason = reason
            item.buyer_cancel_requested_at = at
            changed = True
    if changed:
        touch(order, at)
    return changed


def apply_due(order: AmazonOrder, until: datetime, outcome: Outcome) -> bool:
    """Play every event of ``order`` scheduled at or before ``until``."""
    changed = False
    for at, kind in scheduled_events(order):
        if at > until:
            break
        changed = apply_event(order, kind, at, outcome) or changed
    refresh_next_event(order)
    return changed


# --- money -----------------------------------------------------------------------------------


def fraction(amount: Decimal, part: int, whole: int, currency: str) -> Decimal:
    """``amount * part / whole`` in the currency's minor unit."""
    if whole <= 0 or part <= 0:
        return marketplaces.quantize(Decimal(0), currency)
    if part >= whole:
        return marketplaces.quantize(amount, currency)
    return marketplaces.quantize(amount * part / whole, currency)


def item_charge_components(item: AmazonOrderItem, quantity: int, currency: str) -> dict:
    """What the buyer is charged for ``quantity`` units of the item, by component."""
    q, n = quantity, item.quantity_ordered
    return {
        "Principal": fraction(item.item_price - item.promotion_discount, q, n, currency),
        "Tax": fraction(item.item_tax, q, n, currency),
        "Shipping": fraction(item.shipping_price, q, n, currency),
        "ShippingTax": fraction(item.shipping_tax, q, n, currency),
    }


def charge_total(components: dict, tax_included: bool) -> Decimal:
    total = components["Principal"] + components["Shipping"]
    if not tax_included:
        total += components["Tax"] + components["ShippingTax"]
    return total


def order_total(order: AmazonOrder, items: Iterable[AmazonOrderItem]) -> Decimal:
    """OrderTotal over the quantities not cancelled."""
    market = marketplaces.get(order.marketplace_id)
    tax_included = market.tax_included if market else False
    total = Decimal(0)
    for item in items:
        kept = item.quantity_ordered - item.quantity_canceled
        total += charge_total(item_charge_components(item, kept, order.currency), tax_included)
    return marketplaces.quantize(total, order.currency)
