"""Domain errors of the fulfillment app, with the stable codes of api.md. The order-state codes
(``order_pending``, ``order_read_only``, ``order_not_shippable``,
``fulfillment_request_in_progress``, ``invalid_transition``) are the orders app's, raised from
the same policy decisions the portal and the order API show."""

from __future__ import annotations

from rest_framework import status

from foundation.api.errors import DomainError
from orders.errors import (  # noqa: F401 (re-exported: one vocabulary)
    BY_CODE,
    FulfillmentRequestInProgress,
    InvalidTransition,
    OrderNotShippable,
    OrderPending,
    OrderReadOnly,
)


class LegacyRequestNotCancellable(DomainError):
    code = "legacy_request_not_cancellable"
    title = "A legacy fulfillment request cannot be cancelled from Keelson"


class NotYourAction(DomainError):
    """The caller is on the wrong side: a merchant answering for the service, or the reverse."""

    code = "permission_denied"
    status = status.HTTP_403_FORBIDDEN
    title = "Forbidden"


class QuantityExceeded(DomainError):
    code = "quantity_exceeds_remaining"
    status = status.HTTP_422_UNPROCESSABLE_ENTITY
    title = "More than is left to fulfil"


class InvalidFulfillmentInput(DomainError):
    """Input the serializer cannot judge alone (a line of another order, a ship date Amazon
    would refuse): answered as a 400 ``validation_error`` with ``errors`` by field."""

    code = "validation_error"
    status = status.HTTP_400_BAD_REQUEST
    title = "Bad Request"


class NoServiceAssigned(DomainError):
    code = "no_fulfillment_service"
    title = "No fulfillment service is assigned to these lines"


class ServiceHasOpenRequests(DomainError):
    """A service cannot be deactivated (or stop serving a merchant) while requests are with it:
    they would be stranded, the service no longer able to answer or report shipments."""

    code = "service_has_open_requests"
    title = "The fulfillment service still has requests in progress"


class ServiceInactive(DomainError):
    code = "service_inactive"
    title = "The fulfillment service is deactivated"
