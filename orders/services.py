"""Write use cases of the orders app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction

from integrations.amazon.marketplaces import marketplace
from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money
from orders.models import (
    ActorType,
    AmazonOrderStatus,
    Channel,
    EventKind,
    FinancialStatus,
    Order,
    OrderEvent,
    OrderLine,
)
from tenants.models import AmazonAccount

# Fields the sync owns: an upsert overwrites these and nothing else (fulfillment and financial
# state are ours).
SYNCED_ORDER_FIELDS = [
    "amazon_account",
    "marketplace_id",
    "sales_channel",
    "status",
    "fulfillment_channel",
    "order_type",
    "ship_service_level",
    "is_prime",
    "is_business_order",
    "is_premium_order",
    "purchase_date",
    "source_updated_at",
    "earliest_ship_date",
    "latest_ship_date",
    "earliest_delivery_date",
    "latest_delivery_date",
    "currency",
    "total_amount",
    "buyer_name",
    "buyer_email",
    "buyer_cancel_requested",
    "buyer_cancel_reason",
    "buyer_cancel_requested_at",
    "shipping_address",
    "updated_at",
]
SYNCED_LINE_FIELDS = [
    "sku",
    "asin",
    "title",
    "quantity_ordered",
    "quantity_shipped",
    "item_price",
    "item_tax",
    "shipping_price",
    "shipping_tax",
    "promotion_discount",
    "buyer_cancel_requested",
    "buyer_cancel_reason",
]


# Amazon has not taken the buyer's payment yet (A1, A2).
UNPAID_STATUSES = (
    AmazonOrderStatus.PENDING,
    AmazonOrderStatus.PENDING_AVAILABILITY,
    AmazonOrderStatus.CANCELED,
)


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    events: int = 0
    # Orders created or changed: the caller recomputes their deadlines, notifies, etc.
    changed_order_ids: list[int] = field(default_factory=list)
    new_buyer_cancel_order_ids: list[int] = field(default_factory=list)


def _amount(money: Money | None) -> Decimal:
    return money.amount if money is not None else Decimal("0")


def _order_total(record: AmazonOrder) -> Decimal:
    """OrderTotal when Amazon gives it; else the items' charges (Pending orders lack it)."""
    if record.order_total is not None:
        return record.order_total.amount
    return sum(
        (
            _amount(i.item_price)
            + _amount(i.item_tax)
            + _amount(i.shipping_price)
            + _amount(i.shipping_tax)
            - _amount(i.promotion_discount)
            for i in record.items or ()
        ),
        Decimal("0"),
    )


def _currency(record: AmazonOrder, fallback: str) -> str:
    if record.order_total is not None:
        return record.order_total.currency
    for item in record.items or ():
        if item.item_price is not None:
            return item.item_price.currency
    known = marketplace(record.marketplace_id)
    return known.currency if known else fallback


def _latest_per_order(records: Sequence[AmazonOrder]) -> dict[str, AmazonOrder]:
    latest: dict[str, AmazonOrder] = {}
    for record in records:
        seen = latest.get(record.amazon_order_id)
        if seen is None or record.last_update_date >= seen.last_update_date:
            latest[record.amazon_order_id] = record
    return latest


@transaction.atomic
def upsert_amazon_orders(
    *, account: AmazonAccount, records: Sequence[AmazonOrder], default_currency: str = "USD"
) -> UpsertResult:
    """Insert or update orders (and their lines) as Amazon reports them, in bulk.

    Idempotent: a record no newer than what we hold changes nothing, so re-running any window
    writes nothing. Every status change and every new buyer cancellation request (rule B1)
    becomes one timeline event. Orders for SKUs we never listed are imported too (R1); AFN
    orders are imported and stay read-only (R5). Run inside `tenant_context(account.merchant)`.
    """
    result = UpsertResult()
    latest = _latest_per_order(records)
    if not latest:
        return result
    merchant_id = account.merchant_id
    existing = {
        o.external_id: o
        for o in Order.objects.select_for_update()
        .filter(merchant_id=merchant_id, channel=Channel.AMAZON, external_id__in=list(latest))
        .only(
            "id",
            "external_id",
            "status",
            "source_updated_at",
            "buyer_cancel_requested",
            "buyer_cancel_reason",
            "buyer_cancel_requested_at",
        )
    }

    to_write: list[Order] = []
    incoming: dict[str, AmazonOrder] = {}
    for order_id, record in latest.items():
        old = existing.get(order_id)
        if old is not None and record.last_update_date <= old.source_updated_at:
            result.unchanged += 1
            continue
        incoming[order_id] = record
        to_write.append(_order_from_record(account, record, old, default_currency))
    if not to_write:
        return result

    written = Order.objects.bulk_create(
        to_write,
        update_conflicts=True,
        unique_fields=["merchant", "channel", "external_id"],
        update_fields=SYNCED_ORDER_FIELDS,
    )
    by_external_id = {o.external_id: o for o in written}

    lines: list[OrderLine] = []
    for order_id, record in incoming.items():
        if record.items is None:
            continue
        order = by_external_id[order_id]
        lines.extend(_line_from_item(merchant_id, order.pk, item) for item in record.items)
    if lines:
        OrderLine.objects.bulk_create(
            lines,
            update_conflicts=True,
            unique_fields=["merchant", "order", "external_id"],
            update_fields=SYNCED_LINE_FIELDS,
        )

    events: list[OrderEvent] = []
    for order_id in incoming:
        order = by_external_id[order_id]
        old = existing.get(order_id)
        result.changed_order_ids.append(order.pk)
        if old is None:
            result.created += 1
            events.append(
                _event(
                    order,
                    EventKind.IMPORTED,
                    f"Imported from Amazon ({order.status}).",
                    {"status": order.status},
                )
            )
        else:
            result.updated += 1
            if old.status != order.status:
                events.append(
                    _event(
                        order,
                        EventKind.STATUS_CHANGED,
                        f"Amazon status changed from {old.status} to {order.status}.",
                        {"from": old.status, "to": order.status},
                    )
                )
        if order.buyer_cancel_requested and not (old and old.buyer_cancel_requested):
            result.new_buyer_cancel_order_ids.append(order.pk)
            reason = order.buyer_cancel_reason or "no reason given"
            events.append(
                _event(
                    order,
                    EventKind.BUYER_CANCEL_REQUESTED,
                    f"The buyer asked Amazon to cancel this order ({reason}).",
                    {"reason": order.buyer_cancel_reason},
                )
            )
    OrderEvent.objects.bulk_create(events)
    result.events = len(events)
    _settle_financial_status(result.changed_order_ids)
    return result


def _settle_financial_status(order_ids: list[int]) -> None:
    """Payment follows Amazon's status until our own refunds take over the financial status."""
    waiting = Order.objects.filter(pk__in=order_ids, financial_status=FinancialStatus.PENDING)
    waiting.filter(status=AmazonOrderStatus.CANCELED).update(
        financial_status=FinancialStatus.VOIDED
    )
    waiting.exclude(status__in=UNPAID_STATUSES).update(financial_status=FinancialStatus.PAID)


def _order_from_record(
    account: AmazonAccount, record: AmazonOrder, old: Order | None, default_currency: str
) -> Order:
    if record.items is None and old is not None:
        cancel_requested = old.buyer_cancel_requested
        cancel_reason = old.buyer_cancel_reason
    else:
        flagged = [i for i in record.items or () if i.buyer_cancel_requested]
        cancel_requested = bool(flagged)
        cancel_reason = next((i.buyer_cancel_reason for i in flagged if i.buyer_cancel_reason), "")
    requested_at = None
    if cancel_requested:
        already = old is not None and old.buyer_cancel_requested
        requested_at = old.buyer_cancel_requested_at if already else record.last_update_date
    total = _order_total(record)
    return Order(
        merchant_id=account.merchant_id,
        channel=Channel.AMAZON,
        external_id=record.amazon_order_id,
        amazon_account=account,
        marketplace_id=record.marketplace_id,
        sales_channel=record.sales_channel,
        status=record.status,
        fulfillment_channel=record.fulfillment_channel or "MFN",
        financial_status=FinancialStatus.PENDING,
        order_type=record.order_type,
        ship_service_level=record.ship_service_level,
        is_prime=record.is_prime,
        is_business_order=record.is_business_order,
        is_premium_order=record.is_premium_order,
        purchase_date=record.purchase_date,
        source_updated_at=record.last_update_date,
        earliest_ship_date=record.earliest_ship_date,
        latest_ship_date=record.latest_ship_date,
        earliest_delivery_date=record.earliest_delivery_date,
        latest_delivery_date=record.latest_delivery_date,
        currency=_currency(record, default_currency),
        total_amount=total,
        buyer_name=record.buyer_name,
        buyer_email=record.buyer_email,
        buyer_cancel_requested=cancel_requested,
        buyer_cancel_reason=cancel_reason,
        buyer_cancel_requested_at=requested_at,
        shipping_address=record.shipping_address,
    )


def _line_from_item(merchant_id: int, order_id: int, item: AmazonOrderItem) -> OrderLine:
    return OrderLine(
        merchant_id=merchant_id,
        order_id=order_id,
        external_id=item.order_item_id,
        sku=item.sku,
        asin=item.asin,
        title=item.title,
        quantity_ordered=item.quantity_ordered,
        quantity_shipped=item.quantity_shipped,
        item_price=_amount(item.item_price),
        item_tax=_amount(item.item_tax),
        shipping_price=_amount(item.shipping_price),
        shipping_tax=_amount(item.shipping_tax),
        promotion_discount=_amount(item.promotion_discount),
        buyer_cancel_requested=item.buyer_cancel_requested,
        buyer_cancel_reason=item.buyer_cancel_reason,
    )


def _event(order: Order, kind: str, message: str, data: dict) -> OrderEvent:
    return OrderEvent(
        merchant_id=order.merchant_id,
        order_id=order.pk,
        kind=kind,
        message=message,
        actor_type=ActorType.AMAZON,
        actor="Amazon",
        data=data,
    )
