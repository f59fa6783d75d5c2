"""Domain errors of the refunds app, with api.md's stable codes: 409 for the order's state,
422 for an amount or a quantity. The order-state codes (``order_pending``, ``order_read_only``,
``fulfillment_request_in_progress``, ``invalid_transition``) are the orders app's, raised from
the same policy decisions the portal and the order API show."""

from __future__ import annotations

from rest_framework import status

from foundation.api.errors import DomainError
from orders.errors import (  # noqa: F401 (re-exported: one vocabulary)
    BY_CODE,
    FulfillmentRequestInProgress,
    InvalidTransition,
    OrderPending,
    OrderReadOnly,
)


class RefundExceedsBalance(DomainError):
    code = "refund_exceeds_balance"
    status = status.HTTP_422_UNPROCESSABLE_ENTITY
    title = "More than is left to refund"


class RefundAmountRequired(DomainError):
    code = "refund_amount_required"
    status = status.HTTP_422_UNPROCESSABLE_ENTITY
    title = "A refund of more than 0 is required"


class InvalidAmount(DomainError):
    code = "invalid_amount"
    status = status.HTTP_422_UNPROCESSABLE_ENTITY
    title = "The amount is not valid in the order's currency"


class QuantityExceedsRemaining(DomainError):
    code = "quantity_exceeds_remaining"
    status = status.HTTP_422_UNPROCESSABLE_ENTITY
    title = "More than is left"


class AlreadyRefundedOnAmazon(DomainError):
    code = "already_refunded_on_amazon"
    title = "This order was already refunded on Amazon"


class AmazonAccountNotConnected(DomainError):
    code = "amazon_account_not_connected"
    title = "The order's Amazon account is not connected"


class TaxSplitPending(DomainError):
    """A refund would take from a line whose tax Amazon gave as one figure, before Amazon said
    how it divides between the item and its shipping (orders/tax_splits.py). Temporary: the
    refusal asks Amazon at once (its ``follow_up``), and the same request may be sent again
    in a minute (``Retry-After``; an Idempotency-Key does not keep this answer)."""

    code = "tax_split_pending"
    title = "Amazon has not yet said how the item's tax divides between item and shipping"
    retry_after = 60


class InvalidRefundInput(DomainError):
    """Input the serializer cannot judge alone (a line of another order): a 400
    ``validation_error`` with ``errors`` by field."""

    code = "validation_error"
    status = status.HTTP_400_BAD_REQUEST
    title = "Bad Request"


# refunds.policy's refusal codes -> the error raised.
POLICY_ERRORS: dict[str, type[DomainError]] = {
    RefundExceedsBalance.code: RefundExceedsBalance,
    RefundAmountRequired.code: RefundAmountRequired,
    InvalidAmount.code: InvalidAmount,
    QuantityExceedsRemaining.code: QuantityExceedsRemaining,
    InvalidRefundInput.code: InvalidRefundInput,
    InvalidTransition.code: InvalidTransition,
    TaxSplitPending.code: TaxSplitPending,
}
