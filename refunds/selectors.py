"""Read queries of the refunds app, for the API, the portal, tasks and the services."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, QuerySet, Sum

from fulfillment.selectors import fulfilled_quantities
from integrations.amazon.marketplaces import marketplace
from integrations.outbox.models import OutboxMessage
from orders.models import Channel, Order, OrderLine
from refunds import policy
from refunds.models import (
    BuyerCancelResolution,
    Refund,
    RefundKind,
    RefundLine,
    RefundOrigin,
    RefundStatus,
)

LIVE = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)  # refunds that count (failed do not)


def refunds() -> QuerySet[Refund]:
    """Refunds of the merchants in scope, newest first, with their lines."""
    return (
        Refund.objects.select_related("order")
        .prefetch_related(
            Prefetch("lines", queryset=RefundLine.objects.select_related("order_line"))
        )
        .order_by("-id")
    )


def order_refunds(order: Order | int) -> QuerySet[Refund]:
    order_id = order if isinstance(order, int) else order.pk
    return refunds().filter(order_id=order_id)


def order_refunds_prefetch() -> Prefetch:
    """The order's refunds with their lines, read with the order (the order API's detail)."""
    return Prefetch(
        "refunds",
        queryset=Refund.objects.prefetch_related(
            Prefetch("lines", queryset=RefundLine.objects.select_related("order_line"))
        ).order_by("-id"),
    )


def prefetched_refunds(order: Order) -> list[Refund] | None:
    """The order's refunds when they were read with it (``order_refunds_prefetch``)."""
    cache = getattr(order, "_prefetched_objects_cache", None) or {}
    return list(cache["refunds"]) if "refunds" in cache else None


def order_refunds_section(order: Order) -> list[Refund]:
    """The refunds section of the order API's detail, newest first."""
    refunds_read = prefetched_refunds(order)
    return refunds_read if refunds_read is not None else list(order_refunds(order))


def is_tax_included(order: Order) -> bool:
    known = marketplace(order.marketplace_id)
    return policy.tax_included(known.country if known else None)


def refunded_on_amazon(order: Order | int) -> Refund | None:
    """R6: the first refund Amazon reports that was not made in Keelson (Seller Central)."""
    order_id = order if isinstance(order, int) else order.pk
    return (
        Refund.objects.filter(order_id=order_id, origin=RefundOrigin.AMAZON)
        .order_by("amazon_posted_at", "id")
        .first()
    )


def pending_cancellation(order: Order | int) -> Refund | None:
    order_id = order if isinstance(order, int) else order.pk
    return Refund.objects.filter(
        order_id=order_id, kind=RefundKind.CANCELLATION, status=RefundStatus.PENDING
    ).first()


def shipped_quantities(order: Order, lines: list[OrderLine]) -> dict[int, int]:
    """Shipped per line: what Amazon reports, or (if more) what Keelson fulfilled."""
    fulfilled = fulfilled_quantities([order.pk])
    return {line.pk: max(line.quantity_shipped, fulfilled.get(line.pk, 0)) for line in lines}


def order_money(order: Order) -> policy.OrderMoney:
    """What was paid for the order and what refunds (and cancellations) took, line by line.
    Call it with the order locked when the answer decides a write."""
    cur = order.currency
    tax_included = is_tax_included(order)
    lines = list(OrderLine.objects.filter(order=order).order_by("id"))
    shipped = shipped_quantities(order, lines)
    taken: dict[tuple[int, str], policy.Components] = defaultdict(policy.Components)
    quantities: dict[tuple[int, str], int] = defaultdict(int)
    rows = RefundLine.objects.filter(
        refund__order=order, refund__status__in=LIVE, order_line__isnull=False
    ).values_list(
        "order_line_id", "refund__kind", "quantity", "principal", "tax", "shipping", "shipping_tax"
    )
    for line_id, kind, quantity, principal, tax, shipping, shipping_tax in rows:
        taken[(line_id, kind)] += policy.Components(principal, tax, shipping, shipping_tax)
        quantities[(line_id, kind)] += quantity
    money_lines = {}
    for line in lines:
        charge = policy.line_charge(
            item_price=line.item_price,
            item_tax=line.item_tax,
            shipping_price=line.shipping_price,
            shipping_tax=line.shipping_tax,
            promotion_discount=line.promotion_discount,
            tax_included=tax_included,
        )
        money_lines[line.pk] = policy.LineMoney(
            line_id=line.pk,
            label=line.sku or line.asin or line.external_id,
            ordered=line.quantity_ordered,
            shipped=min(shipped.get(line.pk, 0), line.quantity_ordered),
            charge=charge,
            refunded=taken[(line.pk, RefundKind.REFUND)],
            refunded_quantity=quantities[(line.pk, RefundKind.REFUND)],
            cancelled=taken[(line.pk, RefundKind.CANCELLATION)],
            cancelled_quantity=quantities[(line.pk, RefundKind.CANCELLATION)],
            tax_split_pending=line.tax_split_pending,
        )
    paid = (
        sum((m.charge.total for m in money_lines.values()), Decimal(0))
        if money_lines
        else order.total_amount
    )
    refunded = Refund.objects.filter(order=order, status__in=LIVE).aggregate(s=Sum("total"))["s"]
    return policy.OrderMoney(
        currency=cur,
        lines=money_lines,
        charged_per_shipped_unit=order.channel == Channel.AMAZON,
        paid_total=policy.quantize(paid, cur),
        refunded_total=refunded or Decimal(0),
    )


def succeeded_total(order: Order) -> Decimal:
    total = Refund.objects.filter(order=order, status=RefundStatus.SUCCEEDED).aggregate(
        s=Sum("total")
    )["s"]
    return total or Decimal(0)


def buyer_cancel_resolution(order: Order) -> BuyerCancelResolution | None:
    """The answer to the order's current buyer cancellation request, if there is one."""
    if not order.buyer_cancel_requested:
        return None
    qs = BuyerCancelResolution.objects.filter(order=order)
    if order.buyer_cancel_requested_at is not None:
        qs = qs.filter(requested_at=order.buyer_cancel_requested_at)
    return qs.order_by("-id").first()


def resolved_buyer_cancel_order_ids(order_ids) -> set[int]:
    return set(
        BuyerCancelResolution.objects.filter(order_id__in=list(order_ids)).values_list(
            "order_id", flat=True
        )
    )


def inventory_cancellations(since: datetime) -> int:
    """A4: seller cancellations for missing inventory since ``since`` (not failed ones)."""
    return (
        Refund.objects.filter(
            kind=RefundKind.CANCELLATION,
            cancel_reason=policy.CancelReason.NO_INVENTORY,
            created_at__gte=since,
        )
        .exclude(status=RefundStatus.FAILED)
        .count()
    )


def outbox_message_for(refund: Refund):
    """The outbox message that sends this refund to Amazon (None if it needs none)."""

    return OutboxMessage.objects.filter(
        merchant_id=refund.merchant_id, idempotency_key=amazon_message_key(refund)
    ).first()


def amazon_message_key(refund: Refund) -> str:
    return f"refund-{refund.pk}-amazon"
