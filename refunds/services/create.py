"""Refunding an order (R6): per line, shipping and amount, checked against what was paid and
already refunded, sent to Amazon (and to Shopify when the store is connected) through the
outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from foundation.api.errors import DomainError, run_follow_up
from foundation.text import N_, Amount
from orders import policy as order_policy
from orders.models import EventKind, Order
from orders.services import request_tax_split
from refunds import errors, policy, selectors
from refunds.models import AmazonSync, Refund, RefundKind
from refunds.services.base import (
    Actor,
    _check_not_refunded_on_amazon,
    _check_order_allows,
    _create,
    _event,
    _fingerprint,
    _lines_text,
    _lock_order,
    _refusal,
    _replay,
    amazon_hold_reason,
)


def create_refund(
    order: Order | int,
    *,
    actor: Actor,
    lines: Sequence[policy.RequestedLine] = (),
    shipping_amount: Decimal | None = None,
    reason: str = policy.AdjustmentReason.CUSTOMER_RETURN,
    note: str = "",
    idempotency_key: str = "",
) -> Refund:
    """Refund some of an order: per line a quantity (the amount suggested from the price) or
    an amount, and shipping. Refused for Pending (``order_pending``) and FBA
    (``order_read_only``) orders, while a fulfillment request is in progress (F3), for orders
    Amazon refunded outside Keelson (R6), beyond what is left to refund
    (``refund_exceeds_balance``), and while Amazon has not said how the tax of a line it would
    take from divides between the item and its shipping (``tax_split_pending``: Keelson then
    asks Amazon at once, after the refusal's rollback). Amazon orders are sent to Amazon
    through the outbox; the refund succeeds when Amazon accepts it. One transaction."""
    try:
        return _create_refund(
            order,
            actor=actor,
            lines=lines,
            shipping_amount=shipping_amount,
            reason=reason,
            note=note,
            idempotency_key=idempotency_key,
        )
    except DomainError as exc:
        # Outside any transaction now (the portal, the API without an Idempotency-Key): what
        # the refusal sets in motion is kept. Inside one, its owner runs it after its rollback
        # (foundation.api.idempotency) or it is lost with it (the sync asks anyway).
        if not transaction.get_connection().in_atomic_block:
            run_follow_up(exc)
        raise


@transaction.atomic
def _create_refund(
    order: Order | int,
    *,
    actor: Actor,
    lines: Sequence[policy.RequestedLine],
    shipping_amount: Decimal | None,
    reason: str,
    note: str,
    idempotency_key: str,
) -> Refund:
    order = _lock_order(order)
    fingerprint = _fingerprint(
        {
            "kind": "refund",
            "lines": [(r.line_id, r.quantity, r.amount) for r in lines],
            "shipping": shipping_amount,
            "reason": reason,
            "note": note,
        }
    )
    replayed = _replay(order, idempotency_key, fingerprint)
    if replayed is not None:
        return replayed
    _check_not_refunded_on_amazon(order)
    _check_order_allows(order, order_policy.Action.REFUND)
    if reason not in {r.value for r in policy.AdjustmentReason}:
        raise errors.InvalidRefundInput(
            _("Unknown reason %(reason)s.") % {"reason": repr(reason)},
            errors={"reason": [_("Use one of Amazon's reasons.")]},
        )
    money = selectors.order_money(order)
    if money.charged_per_shipped_unit:
        for req in lines:
            line = money.lines.get(req.line_id)
            if line is not None and line.shipped == 0 and (req.quantity or req.amount):
                raise errors.RefundExceedsBalance(
                    f"{line.label} has not shipped, so Amazon charged nothing for it: cancel it "
                    "instead (the cancellation records its refund, R7).",
                )
    try:
        plan = policy.plan_refund(money, lines, shipping_amount)
    except policy.RefundRefused as exc:
        if exc.code == policy.TAX_SPLIT_PENDING:
            raise _tax_split_pending(order, exc) from exc
        raise _refusal(exc) from exc
    refund = _create(
        order,
        plan,
        actor=actor,
        kind=RefundKind.REFUND,
        reason=str(reason),
        note=note,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    sending = (
        " Sending it to Amazon."
        if refund.amazon_sync == AmazonSync.PENDING
        else (" " + refund.failure_message if refund.failure_message else "")
    )
    _event(
        order,
        EventKind.REFUND_CREATED,
        N_(
            "Refund of %(money)s created (%(lines_text)s; shipping %(money2)s; reason %(reason)s).",
            money=Amount(refund.total, order.currency),
            lines_text=_lines_text(refund),
            money2=Amount(refund.shipping_amount, order.currency),
            reason=reason,
        )
        + (f" Note: {note}" if note else "")
        + sending,
        actor,
        {"refund": refund.pk, "total": str(refund.total), "currency": order.currency},
    )
    return refund


def ask_for_tax_split(order: Order) -> bool:
    """A refund of the order waits for Amazon's split of a line's tax (the refund form shows
    it): ask Amazon now (``orders.services.request_tax_split``). False, asking nothing, while
    nothing may be asked of the order's Amazon account (R8)."""
    if amazon_hold_reason(order) is not None:
        return False
    request_tax_split(order)
    return True


def _tax_split_pending(order: Order, refused: policy.RefundRefused) -> errors.TaxSplitPending:
    """The refusal, which asks Amazon for the split at once once it is rolled back (or says
    that Keelson cannot ask while the order's Amazon account is not connected, R8)."""
    if amazon_hold_reason(order) is not None:
        return errors.TaxSplitPending(policy.tax_split_pending_message(refused.line, asking=False))
    error = errors.TaxSplitPending(refused.message)
    error.follow_up = lambda: request_tax_split(order)
    return error
