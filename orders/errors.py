"""Domain errors of the orders app, with the stable codes of docs api.md. The refusals of
``orders.policy.allowed_actions`` carry the same codes."""

from __future__ import annotations

from foundation.api.errors import DomainError


class OrderPending(DomainError):
    code = "order_pending"
    title = "Amazon is still verifying this order"


class OrderReadOnly(DomainError):
    code = "order_read_only"
    title = "This order is read-only"


class OrderNotShippable(DomainError):
    code = "order_not_shippable"
    title = "This order cannot be shipped"


class FulfillmentRequestInProgress(DomainError):
    code = "fulfillment_request_in_progress"
    title = "A fulfillment request is in progress"


class InvalidTransition(DomainError):
    code = "invalid_transition"
    title = "This action is not possible in the order's state"


BY_CODE: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (
        OrderPending,
        OrderReadOnly,
        OrderNotShippable,
        FulfillmentRequestInProgress,
        InvalidTransition,
    )
}
