"""Which orders need the merchant, as query conditions: the dashboard's cards and the order
list's "needs attention" filter count the same ones (A3, A9, B1, B4, A1), and the local days of
each merchant's time zone that the charts and day filters use."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q

from orders import extensions, selectors
from orders.models import AmazonOrderStatus, FulfillmentChannel, ShipmentConfirmation
from tenants.models import Merchant

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
    declined to ship anyway): it no longer needs attention. The answers are refunds' records
    (``orders.extensions``)."""
    return extensions.answered_buyer_cancel.function()


def merchant_zones(merchant_ids: Iterable[int]) -> dict[str, list[int]]:
    """The merchants grouped by time zone (one query on the tenancy table)."""
    zones: dict[str, list[int]] = defaultdict(list)
    rows = Merchant.objects.filter(id__in=list(merchant_ids)).values_list("time_zone", "id")
    for zone, merchant_id in rows.order_by("time_zone", "id"):
        zones[zone or "UTC"].append(merchant_id)
    return dict(zones)


def axis_zone(zones: dict[str, list[int]]) -> str:
    """The zone the chart's days are named in: the one most merchants in scope use."""
    if not zones:
        return "UTC"
    return max(sorted(zones), key=lambda zone: len(zones[zone]))


def day_start(day: date, zone: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(zone))


def local_days_filter(field_name: str, first: date, last: date, zones: dict[str, list[int]]) -> Q:
    """Rows whose ``field_name`` falls on the local days ``first``..``last`` (inclusive) of
    their merchant's time zone: one index-friendly range per zone."""
    condition = Q(pk__in=[])
    for zone, ids in zones.items():
        condition |= Q(
            merchant_id__in=ids,
            **{
                f"{field_name}__gte": day_start(first, zone),
                f"{field_name}__lt": day_start(last + timedelta(days=1), zone),
            },
        )
    return condition


OVERDUE = "overdue"


def awaiting_confirmation() -> Q:
    """Open seller-fulfilled orders whose shipment Amazon has not confirmed yet (A8)."""
    return Q(
        status__in=OPEN,
        fulfillment_channel=FulfillmentChannel.MFN,
        confirm_by__isnull=False,
    ) & ~Q(shipment_confirmation=ShipmentConfirmation.CONFIRMED)


def upcoming_deadline_filter(now: datetime) -> Q:
    # auto_cancel_expected=False matches the partial index order_auto_cancel_due (confirm_by,
    # merchant): a deadline still ahead has not been flagged.
    return awaiting_confirmation() & Q(confirm_by__gte=now, auto_cancel_expected=False)


def overdue_deadline_filter(now: datetime) -> Q:
    return awaiting_confirmation() & Q(confirm_by__lt=now)
