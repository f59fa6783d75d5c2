"""Read queries about orders, for the API, the portal and tasks."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from orders.models import Order, OrderEvent, OrderLine


def order_list() -> QuerySet[Order]:
    """Orders of the merchants in scope, newest first."""
    return Order.objects.select_related("merchant").order_by("-id")


def order_detail() -> QuerySet[Order]:
    return Order.objects.select_related("merchant", "amazon_account").prefetch_related(
        Prefetch("lines", queryset=OrderLine.objects.order_by("id"))
    )


def order_events(order: Order) -> QuerySet[OrderEvent]:
    return (
        OrderEvent.objects.filter(order=order)
        .select_related("actor_user")
        .order_by("created_at", "id")
    )


def search_orders(queryset: QuerySet[Order], text: str) -> QuerySet[Order]:
    """Order number, buyer name, or an exact SKU of one of its lines."""
    text = text.strip()
    if not text:
        return queryset
    sku_orders = OrderLine.objects.filter(sku=text).values("order_id")
    return queryset.filter(
        Q(external_id__istartswith=text) | Q(buyer_name__icontains=text) | Q(pk__in=sku_orders)
    )
