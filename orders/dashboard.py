"""The orders' numbers on the portal dashboard (rules A3, A9, B1, A1), for the merchants in
the request's scope, each linking to the matching order list."""

from __future__ import annotations

from urllib.parse import urlencode

from django.db.models import Count
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from orders.admin_filters import attention_conditions
from orders.models import Order
from portal.dashboard import register_counter


def _counts(request: HttpRequest) -> dict[str, int]:
    """All five numbers in one query, once per request."""
    cached = getattr(request, "_order_card_counts", None)
    if cached is not None:
        return cached
    conditions = attention_conditions(timezone.now())
    counts = Order.objects.aggregate(
        **{key: Count("id", filter=condition) for key, condition in conditions.items()}
    )
    request._order_card_counts = counts
    return counts


def _has_orders(request: HttpRequest) -> bool:
    cached = getattr(request, "_has_orders", None)
    if cached is None:
        cached = request._has_orders = Order.objects.exists()
    return cached


def _counter(key: str):
    def count(request: HttpRequest) -> int | None:
        # No orders at all: the card keeps its "No orders synced yet" state.
        return _counts(request)[key] if _has_orders(request) else None

    return count


def _link(**params: str):
    def link(request: HttpRequest) -> str | None:
        return reverse("portal:orders_order_changelist") + "?" + urlencode(params)

    return link


def register() -> None:
    register_counter("unshipped", _counter("unshipped"), _link(attention="unshipped"))
    register_counter("at_risk", _counter("at_risk"), _link(attention="at_risk"))
    register_counter("late", _counter("late"), _link(attention="late"))
    register_counter("buyer_cancel", _counter("buyer_cancel"), _link(attention="buyer_cancel"))
    register_counter("pending", _counter("pending"), _link(attention="pending"))
