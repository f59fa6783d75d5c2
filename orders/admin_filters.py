"""List filters of the portal's order list."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.utils import timezone

from orders import selectors
from orders.models import AmazonOrderStatus, FulfillmentChannel

OPEN = [AmazonOrderStatus.UNSHIPPED, AmazonOrderStatus.PARTIALLY_SHIPPED]
PENDING = [AmazonOrderStatus.PENDING, AmazonOrderStatus.PENDING_AVAILABILITY]


def attention_conditions(now) -> dict[str, Q]:
    """The dashboard's cards as conditions (orders.dashboard counts the same ones)."""
    mfn_open = Q(status__in=OPEN, fulfillment_channel=FulfillmentChannel.MFN)
    return {
        "unshipped": mfn_open,
        "at_risk": mfn_open & selectors.at_risk_filter(now),
        "late": mfn_open & selectors.late_filter(now),
        "buyer_cancel": Q(buyer_cancel_requested=True, status__in=OPEN) & ~answered_buyer_cancel(),
        "pending": Q(status__in=PENDING),
    }


def answered_buyer_cancel() -> Q:
    """B4: the merchant answered the buyer's current request (cancelled as requested, or
    declined to ship anyway): it no longer needs attention."""
    from django.db.models import Exists, OuterRef

    from refunds.models import BuyerCancelResolution

    answers = BuyerCancelResolution.objects.filter(order=OuterRef("pk")).filter(
        Q(requested_at=OuterRef("buyer_cancel_requested_at")) | Q(requested_at__isnull=True)
    )
    return Q(Exists(answers))


class AttentionFilter(admin.SimpleListFilter):
    """Orders that need the merchant: the dashboard's cards link here (A3, A9, B1, A1)."""

    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return [
            ("unshipped", "Unshipped (ship or cancel)"),
            ("at_risk", "At risk: confirm shipment soon"),
            ("late", "Late: past the ship-by date"),
            ("buyer_cancel", "Buyer asked to cancel"),
            ("pending", "Pending at Amazon"),
        ]

    def queryset(self, request, queryset):
        condition = attention_conditions(timezone.now()).get(self.value() or "")
        return queryset.filter(condition) if condition is not None else queryset
