"""The SP-API operations the emulator serves, with Amazon's default usage plans.

Rates and bursts are the "Usage Plan" tables of Amazon's models
(../shared/conformance/spapi); tests/sandbox check this table against them. The tokens API
is not among those models: its plan (1 request/s, burst 10) is Amazon's published default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Operation:
    name: str  # unique here; Amazon's operationId, prefixed where two APIs share one
    operation_id: str  # as in Amazon's model
    method: str
    path: str  # template, e.g. /orders/v0/orders/{orderId}
    rate: str  # requests per second, as Amazon writes it (x-amzn-RateLimit-Limit)
    burst: int
    model: str  # file in ../shared/conformance/spapi, or "" when not among them
    regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path)
        object.__setattr__(self, "regex", re.compile(f"^{pattern}$"))

    @property
    def rate_per_second(self) -> float:
        return float(self.rate)


OPERATIONS: tuple[Operation, ...] = (
    Operation("getOrders", "getOrders", "GET", "/orders/v0/orders", "0.0167", 20, "ordersV0.json"),
    Operation(
        "getOrder", "getOrder", "GET", "/orders/v0/orders/{orderId}", "0.5", 30, "ordersV0.json"
    ),
    Operation(
        "getOrderBuyerInfo",
        "getOrderBuyerInfo",
        "GET",
        "/orders/v0/orders/{orderId}/buyerInfo",
        "0.5",
        30,
        "ordersV0.json",
    ),
    Operation(
        "getOrderAddress",
        "getOrderAddress",
        "GET",
        "/orders/v0/orders/{orderId}/address",
        "0.5",
        30,
        "ordersV0.json",
    ),
    Operation(
        "getOrderItems",
        "getOrderItems",
        "GET",
        "/orders/v0/orders/{orderId}/orderItems",
        "0.5",
        30,
        "ordersV0.json",
    ),
    Operation(
        "getOrderItemsBuyerInfo",
        "getOrderItemsBuyerInfo",
        "GET",
        "/orders/v0/orders/{orderId}/orderItems/buyerInfo",
        "0.5",
        30,
        "ordersV0.json",
    ),
    Operation(
        "confirmShipment",
        "confirmShipment",
        "POST",
        "/orders/v0/orders/{orderId}/shipmentConfirmation",
        "2",
        10,
        "ordersV0.json",
    ),
    Operation(
        "searchOrders",
        "searchOrders",
        "GET",
        "/orders/2026-01-01/orders",
        "0.0056",
        20,
        "orders_2026-01-01.json",
    ),
    Operation(
        "getOrder2026",
        "getOrder",
        "GET",
        "/orders/2026-01-01/orders/{orderId}",
        "0.5",
        30,
        "orders_2026-01-01.json",
    ),
    Operation(
        "getFeeds",
        "getFeeds",
        "GET",
        "/feeds/2021-06-30/feeds",
        "0.0222",
        10,
        "feeds_2021-06-30.json",
    ),
    Operation(
        "createFeed",
        "createFeed",
        "POST",
        "/feeds/2021-06-30/feeds",
        "0.0083",
        15,
        "feeds_2021-06-30.json",
    ),
    Operation(
        "cancelFeed",
        "cancelFeed",
        "DELETE",
        "/feeds/2021-06-30/feeds/{feedId}",
        "2",
        15,
        "feeds_2021-06-30.json",
    ),
    Operation(
        "getFeed",
        "getFeed",
        "GET",
        "/feeds/2021-06-30/feeds/{feedId}",
        "2",
        15,
        "feeds_2021-06-30.json",
    ),
    Operation(
        "createFeedDocument",
        "createFeedDocument",
        "POST",
        "/feeds/2021-06-30/documents",
        "0.5",
        15,
        "feeds_2021-06-30.json",
    ),
    Operation(
        "getFeedDocument",
        "getFeedDocument",
        "GET",
        "/feeds/2021-06-30/documents/{feedDocumentId}",
        "0.0222",
        10,
        "feeds_2021-06-30.json",
    ),
    Operation(
        "listFinancialEventsByOrderId",
        "listFinancialEventsByOrderId",
        "GET",
        "/finances/v0/orders/{orderId}/financialEvents",
        "0.5",
        30,
        "financesV0.json",
    ),
    Operation(
        "listFinancialEvents",
        "listFinancialEvents",
        "GET",
        "/finances/v0/financialEvents",
        "0.5",
        30,
        "financesV0.json",
    ),
    Operation(
        "getSubscription",
        "getSubscription",
        "GET",
        "/notifications/v1/subscriptions/{notificationType}",
        "1",
        5,
        "notifications.json",
    ),
    Operation(
        "createSubscription",
        "createSubscription",
        "POST",
        "/notifications/v1/subscriptions/{notificationType}",
        "1",
        5,
        "notifications.json",
    ),
    Operation(
        "getSubscriptionById",
        "getSubscriptionById",
        "GET",
        "/notifications/v1/subscriptions/{notificationType}/{subscriptionId}",
        "1",
        5,
        "notifications.json",
    ),
    Operation(
        "deleteSubscriptionById",
        "deleteSubscriptionById",
        "DELETE",
        "/notifications/v1/subscriptions/{notificationType}/{subscriptionId}",
        "1",
        5,
        "notifications.json",
    ),
    Operation(
        "getDestinations",
        "getDestinations",
        "GET",
        "/notifications/v1/destinations",
        "1",
        5,
        "notifications.json",
    ),
    Operation(
        "createDestination",
        "createDestination",
        "POST",
        "/notifications/v1/destinations",
        "1",
        5,
        "notifications.json",
    ),
    Operation(
        "getDestination",
        "getDestination",
        "GET",
        "/notifications/v1/destinations/{destinationId}",
        "1",
        5,
        "notifications.json",
    ),
    Operation(
        "deleteDestination",
        "deleteDestination",
        "DELETE",
        "/notifications/v1/destinations/{destinationId}",
        "1",
        5,
        "notifications.json",
    ),
    Operation(
        "createRestrictedDataToken",
        "createRestrictedDataToken",
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
        "1",
        10,
        "",
    ),
)

BY_NAME = {op.name: op for op in OPERATIONS}
# Called with the application's grantless token (LWA client credentials), not a seller's.
GRANTLESS = frozenset(
    {"getDestinations", "createDestination", "getDestination", "deleteDestination"}
)
# Grantless on Amazon, and python-amazon-sp-api calls it with the seller's token: both work.
GRANTLESS_OR_SELLER = frozenset({"deleteSubscriptionById"})


def match(method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
    for op in OPERATIONS:
        if op.method != method:
            continue
        found = op.regex.match(path)
        if found:
            return op, found.groupdict()
    return None


def path_allowed(path: str) -> bool:
    """Whether any operation (any method) serves this path."""
    return any(op.regex.match(path) for op in OPERATIONS)
