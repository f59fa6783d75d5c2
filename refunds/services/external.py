"""Refunds made on Amazon outside Keelson (R6): recorded from Amazon's Finances events once each,
and checked before a refund of ours is sent, so the buyer is never refunded twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from foundation.text import N_, Amount
from notifications.models import NotificationKind
from notifications.services import notify_merchant
from orders.models import ActorType, EventKind, Order, OrderLine
from refunds import policy, selectors
from refunds.models import AmazonSync, Refund, RefundKind, RefundLine, RefundOrigin, RefundStatus
from refunds.services.base import AMAZON, _event, _lock_order, refresh_financial_status
from tenants.models import Merchant


@dataclass
class ExternalRefundsResult:
    recorded: list[Refund] = field(default_factory=list)  # new refunds made outside Keelson
    matched: dict[str, int] = field(default_factory=dict)  # Amazon event key -> our refund

    @property
    def changed(self) -> bool:
        return bool(self.recorded or self.matched)


@transaction.atomic
def record_external_refunds(
    order: Order | int, financial_events: Mapping, *, sending: int | None = None
) -> ExternalRefundsResult:
    """Compare Amazon's refund events of the order (listFinancialEventsByOrderId) with ours.

    An event with the money of one of our refunds sent to Amazon is that refund; any other was
    made outside Keelson (Seller Central): it is recorded as a refund from Amazon, shown on the
    timeline as external, and blocks further refunds here (R6). Idempotent (events are keyed by
    Amazon's adjustment ids). ``sending``: the refund about to be sent, which an event may also
    match (it reached Amazon on an attempt whose answer was lost).
    """
    order = _lock_order(order)
    events = policy.parse_refund_events(
        financial_events, order.currency, tax_included=selectors.is_tax_included(order)
    )
    known = set(
        Refund.objects.filter(order=order)
        .exclude(amazon_refund_key="")
        .values_list("amazon_refund_key", flat=True)
    )
    candidates = []
    for refund in (
        Refund.objects.filter(
            order=order,
            origin=RefundOrigin.KEELSON,
            kind=RefundKind.REFUND,
            amazon_refund_key="",
            status__in=selectors.LIVE,
        )
        .prefetch_related("lines")
        .order_by("id")
    ):
        sent = refund.amazon_sync in (AmazonSync.SENDING, AmazonSync.SUBMITTED, AmazonSync.SYNCED)
        if sent or refund.pk == sending:
            signature = policy.refund_signature(
                (
                    line.external_item_id,
                    policy.Components(line.principal, line.tax, line.shipping, line.shipping_tax),
                )
                for line in refund.lines.all()
            )
            candidates.append((refund.pk, signature))
    reconciliation = policy.reconcile(events, known, candidates)
    result = ExternalRefundsResult(matched=reconciliation.matched)
    posted = {e.key: _posted(e.posted_date) for e in events}
    for key, refund_id in reconciliation.matched.items():
        Refund.objects.filter(pk=refund_id).update(
            amazon_refund_key=key, amazon_posted_at=posted.get(key), updated_at=timezone.now()
        )
    for event in reconciliation.external:
        result.recorded.append(_record_external(order, event, posted.get(event.key)))
    if result.recorded:
        refresh_financial_status(order)
    return result


def _posted(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _record_external(order: Order, event: policy.AmazonRefundEvent, posted) -> Refund:
    cur = order.currency
    lines_by_item = {line.external_id: line for line in OrderLine.objects.filter(order=order)}
    items = sum((c.item for _, c, _ in event.items), Decimal(0))
    shipping = sum((c.shipping_total for _, c, _ in event.items), Decimal(0))
    refund = Refund.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        kind=RefundKind.REFUND,
        origin=RefundOrigin.AMAZON,
        status=RefundStatus.SUCCEEDED,
        reason="",
        currency=cur,
        items_amount=items,
        shipping_amount=shipping,
        total=items + shipping,
        created_by_type=ActorType.AMAZON,
        created_by_name="Amazon (Seller Central)",
        amazon_sync=AmazonSync.FROM_AMAZON,
        amazon_refund_key=event.key,
        amazon_posted_at=posted,
        amazon_synced_at=timezone.now(),
        completed_at=timezone.now(),
    )
    RefundLine.objects.bulk_create(
        [
            RefundLine(
                merchant_id=order.merchant_id,
                refund=refund,
                order_line=lines_by_item.get(item_id),
                external_item_id=item_id,
                quantity=quantity or 0,
                amount=comps.item,
                shipping_amount=comps.shipping_total,
                principal=comps.principal,
                tax=comps.tax,
                shipping=comps.shipping,
                shipping_tax=comps.shipping_tax,
            )
            for item_id, comps, quantity in event.items
        ]
    )
    message = N_(
        "Refunded on Amazon, outside Keelson (Seller Central): %(money)s. It is recorded here "
        "so reports are right; the order can no longer be refunded in Keelson (R6).",
        money=Amount(refund.total, cur),
    )
    _event(
        order,
        EventKind.EXTERNAL_REFUND,
        message,
        AMAZON,
        {"refund": refund.pk, "amazon_key": event.key, "posted": event.posted_date, "rule": "R6"},
    )
    notify_merchant(
        Merchant.objects.get(pk=order.merchant_id),
        NotificationKind.GENERAL,
        N_(
            "Order %(external_id)s was refunded on Amazon (%(money)s)",
            external_id=order.external_id,
            money=Amount(refund.total, cur),
        ),
        message,
        order,
    )
    return refund


def check_before_sending(refund_id: int, financial_events: Mapping) -> str:
    """R6, right before a refund goes to Amazon: "applied" when Amazon shows this very refund
    already (sent on an attempt whose answer was lost), "blocked" when Amazon refunded the
    order outside Keelson, "clear" otherwise."""
    order_id = Refund.objects.filter(pk=refund_id).values_list("order_id", flat=True).get()
    record_external_refunds(order_id, financial_events, sending=refund_id)
    if Refund.objects.filter(pk=refund_id).exclude(amazon_refund_key="").exists():
        return "applied"
    if selectors.refunded_on_amazon(order_id) is not None:
        return "blocked"
    return "clear"
