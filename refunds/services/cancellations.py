"""Cancelling an order (R7, A4, A5): with Amazon's reason, as the buyer asked (B4) or declining the
buyer's request and shipping anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from foundation.text import N_, Amount
from fulfillment.services import sync_fulfillment_orders
from orders import policy as order_policy
from orders.models import AmazonOrderStatus, Channel, EventKind, Order, OrderLine
from orders.services import recompute_deadlines
from refunds import errors, policy, selectors
from refunds.models import AmazonSync, BuyerCancelOutcome, BuyerCancelResolution, Refund, RefundKind
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
    refresh_financial_status,
)


@transaction.atomic
def cancel_order(
    order: Order | int,
    *,
    actor: Actor,
    reason: str,
    refund: Decimal | None = None,
    note: str = "",
    lines: Sequence[int] | None = None,
    idempotency_key: str = "",
) -> Refund:
    """Cancel an order that has not shipped (the open quantity of ``lines``, or all of it) on
    Amazon, with ``reason`` (Amazon's CancelReason, ``buyer_requested`` for B4, or
    ``address_change`` for A5), and record the refund that cancellation implies (R7: more than
    0, ``refund_amount_required``) in the same transaction. A buyer's request is cancelled with
    the buyer-cancel reason; its refund defaults to the full amount."""
    order = _lock_order(order)
    fingerprint = _fingerprint(
        {"kind": "cancel", "reason": reason, "refund": refund, "note": note, "lines": lines}
    )
    replayed = _replay(order, idempotency_key, fingerprint)
    if replayed is not None:
        return replayed
    try:
        amazon_reason = policy.amazon_cancel_reason(reason)
    except ValueError:
        choices = ", ".join([policy.BUYER_REQUESTED, policy.ADDRESS_CHANGE, *policy.CancelReason])
        raise errors.InvalidRefundInput(
            _("Unknown cancel reason %(reason)s.") % {"reason": repr(reason)},
            errors={"reason": [_("Use one of %(choices)s.") % {"choices": choices}]},
        ) from None
    buyer_requested = reason == policy.BUYER_REQUESTED
    action = (
        order_policy.Action.CANCEL_AS_REQUESTED if buyer_requested else order_policy.Action.CANCEL
    )
    _check_not_refunded_on_amazon(order)
    _check_order_allows(order, action)
    if selectors.pending_cancellation(order) is not None:
        raise errors.InvalidTransition(
            "A cancellation of this order is being sent to Amazon already: wait for its outcome."
        )
    money = selectors.order_money(order)
    if buyer_requested and lines is None:
        flagged = list(
            OrderLine.objects.filter(order=order, buyer_cancel_requested=True).values_list(
                "id", flat=True
            )
        )
        lines = [lid for lid in flagged if money.lines[lid].open_quantity > 0] or None
    if buyer_requested and refund is None:
        refund = policy.suggested_cancellation_refund(money, lines)  # B4: the full refund
    try:
        plan = policy.plan_cancellation(money, lines, refund)
    except policy.RefundRefused as exc:
        raise _refusal(exc) from exc
    created = _create(
        order,
        plan,
        actor=actor,
        kind=RefundKind.CANCELLATION,
        reason=policy.AdjustmentReason.CUSTOMER_CANCEL
        if buyer_requested
        else policy.AdjustmentReason.GENERAL_ADJUSTMENT,
        note=note,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        cancel_reason=str(amazon_reason),
        requested_reason=reason,
        buyer_requested=buyer_requested,
    )
    what = N_("the whole order") if plan.full_cancellation else _lines_text(created)
    rule = {
        policy.BUYER_REQUESTED: N_(" as the buyer asked (B4)"),
        policy.ADDRESS_CHANGE: N_(
            " because the buyer wants another address: the buyer re-orders with it (A5)"
        ),
    }.get(reason, "")
    sending = (
        N_(" Sending the cancellation to Amazon.")
        if created.amazon_sync == AmazonSync.PENDING
        else (" " + created.failure_message if created.failure_message else "")
    )
    _event(
        order,
        EventKind.REFUND_CREATED,
        N_(
            "Cancellation of %(what)s%(rule)s, reason %(amazon_reason)s, with a refund of "
            "%(money)s (R7).",
            what=what,
            rule=rule,
            amazon_reason=amazon_reason,
            money=Amount(created.total, order.currency),
        )
        + (f" Note: {note}" if note else "")
        + sending,
        actor,
        {
            "refund": created.pk,
            "cancellation": True,
            "cancel_reason": str(amazon_reason),
            "total": str(created.total),
            "rule": "B4" if buyer_requested else "R7",
        },
    )
    if buyer_requested:
        BuyerCancelResolution.objects.create(
            merchant_id=order.merchant_id,
            order=order,
            requested_at=order.buyer_cancel_requested_at,
            outcome=BuyerCancelOutcome.CANCELLED,
            reason=note,
            refund=created,
            actor_type=actor.actor_type,
            actor=actor.name,
        )
    if order.channel != Channel.AMAZON:
        _apply_cancellation(order, created, actor)
    return created


@transaction.atomic
def decline_buyer_cancellation(
    order: Order | int, *, actor: Actor, reason: str
) -> BuyerCancelResolution:
    """B4: the merchant ships anyway; the reason is recorded and the banner resolved."""
    order = _lock_order(order)
    reason = (reason or "").strip()
    if not order.buyer_cancel_requested:
        raise errors.InvalidTransition(_("The buyer has not asked to cancel this order."))
    if not reason:
        raise errors.InvalidRefundInput(
            _("Say why you ship anyway."), errors={"reason": [_("This field is required.")]}
        )
    existing = selectors.buyer_cancel_resolution(order)
    if existing is not None:
        raise errors.InvalidTransition(
            _("This request was answered already (%(lower)s).")
            % {"lower": existing.get_outcome_display().lower()}
        )
    resolution = BuyerCancelResolution.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        requested_at=order.buyer_cancel_requested_at,
        outcome=BuyerCancelOutcome.DECLINED,
        reason=reason,
        actor_type=actor.actor_type,
        actor=actor.name,
    )
    _event(
        order,
        EventKind.NOTE,
        N_(
            "The buyer's cancellation request was declined: shipping anyway. Reason: %(reason)s",
            reason=reason,
        ),
        actor,
        {"buyer_cancel": "declined", "rule": "B4"},
    )
    return resolution


def _apply_cancellation(order: Order, refund: Refund, actor: Actor) -> None:
    """The cancellation took effect (Amazon accepted it, or it needed no Amazon): a fully
    cancelled order is closed (its deadlines and unrequested fulfillment orders too)."""
    if refund.full_cancellation and order.status != AmazonOrderStatus.CANCELED:
        before = order.status
        order.status = AmazonOrderStatus.CANCELED
        order.save(update_fields=["status", "updated_at"])
        _event(
            order,
            EventKind.STATUS_CHANGED,
            N_("Status changed from %(before)s to %(status)s.", before=before, status=order.status),
            actor,
            {"from": before, "to": order.status, "refund": refund.pk},
        )
        recompute_deadlines([order.pk])
        sync_fulfillment_orders([order.pk])
    refresh_financial_status(order)
