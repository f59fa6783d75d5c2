"""The refunds' number on the portal dashboard (rule A4): seller cancellations for missing
inventory in the last 7 days, which hurt the pre-fulfillment cancel rate Amazon measures."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from orders.models import Order
from refunds import selectors

# The card the portal's dashboard shows (key, title, description, icon).
CARD = (
    "inventory_cancellations",
    _("Inventory cancellations"),
    _("Cancelled for no inventory in 7 days: hurts the pre-fulfillment cancel rate (rule A4)."),
    "inventory_2",
)
WINDOW = timedelta(days=7)


def count(request: HttpRequest) -> int | None:
    has_orders = getattr(request, "_has_orders", None)
    if has_orders is None:
        has_orders = request._has_orders = Order.objects.exists()
    if not has_orders:
        return None  # the card keeps its "No orders synced yet" state
    return selectors.inventory_cancellations(timezone.now() - WINDOW)


def link(request: HttpRequest) -> str:
    params = {"kind__exact": "cancellation", "cancel_reason__exact": "NoInventory"}
    return reverse("portal:refunds_refund_changelist") + "?" + urlencode(params)
