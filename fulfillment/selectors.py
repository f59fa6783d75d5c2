"""Read queries of the fulfillment app, for the API, the portal, tasks and other apps."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, Prefetch, Q, QuerySet, Sum

from fulfillment import workflow
from fulfillment.models import (
    AmazonConfirmation,
    Fulfillment,
    FulfillmentLine,
    FulfillmentLocation,
    FulfillmentOrder,
    FulfillmentOrderLine,
    FulfillmentService,
)
from orders.models import Order, OrderLine
from tenants.models import ApiKey, ApiKeyOwner, Merchant


def state_q(states: Iterable[workflow.State], prefix: str = "") -> Q:
    """Fulfillment orders in any of these (status, request_status) states."""
    q = Q(pk__in=[])
    for state in sorted(states):
        q |= Q(**{f"{prefix}status": state.status, f"{prefix}request_status": state.request_status})
    return q


ACTIVE_REQUEST_Q = state_q(workflow.ACTIVE_REQUEST_STATES)
NOT_TERMINAL_STATES = workflow.ACTIVE_REQUEST_STATES | workflow.NOT_REQUESTED_STATES


# --- services and their keys -----------------------------------------------------------------


def service_for_api_key(key: ApiKey | None) -> FulfillmentService | None:
    """The service a fulfillment-service key belongs to (None for other keys)."""
    if key is None or key.owner_type != ApiKeyOwner.FULFILLMENT_SERVICE:
        return None
    return FulfillmentService.objects.filter(api_key=key, is_active=True).first()


def is_service_key(key: ApiKey | None) -> bool:
    return key is not None and key.owner_type == ApiKeyOwner.FULFILLMENT_SERVICE


def merchants_served_by(service: FulfillmentService) -> QuerySet[Merchant]:
    """Active merchants with an active location of the service."""
    return Merchant.objects.filter(
        is_active=True,
        fulfillment_locations__service=service,
        fulfillment_locations__is_active=True,
    ).distinct()


def active_locations(merchant_ids: Iterable[int]) -> list[FulfillmentLocation]:
    return list(
        FulfillmentLocation.objects.filter(
            merchant_id__in=list(merchant_ids), is_active=True, service__is_active=True
        ).select_related("service")
    )


def merchant_ids_with_locations(merchant_ids: Iterable[int]) -> set[int]:
    return set(
        FulfillmentLocation.objects.filter(
            merchant_id__in=list(merchant_ids), is_active=True, service__is_active=True
        ).values_list("merchant_id", flat=True)
    )


# --- fulfillment orders ----------------------------------------------------------------------


def fulfillment_orders(api_key: ApiKey | None = None) -> QuerySet[FulfillmentOrder]:
    """Fulfillment orders of the merchants in scope, newest first; for a fulfillment-service
    key, only its own service's (api.md: it sees nothing else)."""
    qs = (
        FulfillmentOrder.objects.select_related("service", "order")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=FulfillmentOrderLine.objects.select_related("order_line").order_by("id"),
            )
        )
        .order_by("-id")
    )
    if is_service_key(api_key):
        service = service_for_api_key(api_key)
        return qs.filter(service=service) if service is not None else qs.none()
    return qs


def order_fulfillment_orders(order: Order) -> list[FulfillmentOrder]:
    """The order's fulfillment orders, oldest first; each holds the given order (not read again
    with them)."""
    rows = list(
        fulfillment_orders()
        .select_related(None)
        .select_related("service")
        .filter(order=order)
        .order_by("id")
    )
    for fulfillment_order in rows:
        fulfillment_order.order = order
    return rows


def order_fulfillments(order: Order | int) -> list[Fulfillment]:
    order_id = order if isinstance(order, int) else order.pk
    return list(
        Fulfillment.objects.filter(order_id=order_id)
        .select_related("service")
        .prefetch_related(
            Prefetch("lines", queryset=FulfillmentLine.objects.select_related("order_line"))
        )
        .order_by("id")
    )


def has_fulfillment_request_in_progress(order: Order | int) -> bool:
    """Rule F3: a request is with a fulfillment service, so the order can be neither edited
    nor refunded (nor fulfilled here: F11) until the request ends. For the refunds app too."""
    order_id = order if isinstance(order, int) else order.pk
    return FulfillmentOrder.objects.filter(ACTIVE_REQUEST_Q, order_id=order_id).exists()


def orders_with_request_in_progress(order_ids: Iterable[int]) -> set[int]:
    return set(
        FulfillmentOrder.objects.filter(ACTIVE_REQUEST_Q, order_id__in=list(order_ids))
        .values_list("order_id", flat=True)
        .distinct()
    )


# --- quantities ------------------------------------------------------------------------------


def fulfilled_quantities(order_ids: Iterable[int]) -> dict[int, int]:
    """Quantity fulfilled in Keelson per order line."""
    rows = (
        FulfillmentLine.objects.filter(fulfillment__order_id__in=list(order_ids))
        .values("order_line_id")
        .annotate(n=Sum("quantity"))
        .values_list("order_line_id", "n")
    )
    return {line_id: n or 0 for line_id, n in rows}


def covered_quantities(order_ids: Iterable[int]) -> dict[int, int]:
    """Quantity still to ship per order line in fulfillment orders that are not finished."""
    rows = (
        FulfillmentOrderLine.objects.filter(
            state_q(NOT_TERMINAL_STATES, prefix="fulfillment_order__"),
            fulfillment_order__order_id__in=list(order_ids),
        )
        .values("order_line_id")
        .annotate(n=Sum("remaining_quantity"))
        .values_list("order_line_id", "n")
    )
    return {line_id: n or 0 for line_id, n in rows}


def done_quantity(line: OrderLine, fulfilled: dict[int, int]) -> int:
    """What counts as fulfilled on a line: shipped through Keelson, or (if more) what Amazon
    reports shipped (e.g. shipped from Seller Central)."""
    return max(line.quantity_shipped, fulfilled.get(line.pk, 0))


def unfulfilled_quantity(line: OrderLine, fulfilled: dict[int, int]) -> int:
    return max(0, line.quantity_ordered - done_quantity(line, fulfilled))


# --- Amazon confirmation progress (rule A7) --------------------------------------------------


def confirmation_progress(order_ids: Iterable[int]) -> dict[str, int]:
    """Counts of the orders' shipments by Amazon confirmation state: queued, confirmed,
    failed (the bulk action's progress)."""
    rows = (
        Fulfillment.objects.filter(order_id__in=list(order_ids))
        .exclude(amazon_confirmation=AmazonConfirmation.NOT_REQUIRED)
        .values("amazon_confirmation")
        .annotate(n=Count("id"))
    )
    counts = dict.fromkeys(
        [AmazonConfirmation.PENDING, AmazonConfirmation.CONFIRMED, AmazonConfirmation.FAILED], 0
    )
    for row in rows:
        counts[row["amazon_confirmation"]] = row["n"]
    return {str(k): v for k, v in counts.items()}


def amazon_confirmation_by_order(order_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Fulfillment.objects.filter(order_id__in=list(order_ids))
        .exclude(amazon_confirmation=AmazonConfirmation.NOT_REQUIRED)
        .values("order_id", "amazon_confirmation")
        .annotate(n=Count("id"))
    )
    for row in rows:
        out[row["order_id"]][row["amazon_confirmation"]] = row["n"]
    return dict(out)
