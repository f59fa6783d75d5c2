"""Write use cases of the refunds app (rules R6, R7, R8, B4, B5, F3, A4, A5).

Each public function is one use case: one transaction, the order row locked first
(``select_for_update``: concurrent refunds of one order queue there, so together they can never
refund more than was paid), the order's state decided by ``orders/policy.py`` (the decisions the
portal and ``allowed_actions`` show), the amounts by ``refunds/policy.py``, a timeline event for
what happened, and an outbox message for what Amazon must be told. Domain errors carry api.md's
codes (refunds/errors.py).

Sending to Amazon (refunds/amazon.py, through the outbox) reports back here:
``mark_sending``/``record_feed_submitted`` while it works, then ``refund_succeeded`` or
``refund_failed`` (or ``hold_refund`` while the account is not connected, rule R8).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from foundation.api.errors import IdempotencyKeyReused
from fulfillment.selectors import has_fulfillment_request_in_progress
from fulfillment.services import sync_fulfillment_orders
from integrations.outbox.models import OutboxStatus
from integrations.outbox.services import enqueue, retry_message
from notifications.models import NotificationKind
from notifications.services import notify_merchant
from orders import policy as order_policy
from orders.models import (
    ActorType,
    AmazonOrderStatus,
    Channel,
    EventKind,
    FinancialStatus,
    Order,
    OrderEvent,
    OrderLine,
)
from orders.services import ensure_action_allowed, recompute_deadlines
from refunds import errors, policy, selectors
from refunds.models import (
    AmazonSync,
    BuyerCancelOutcome,
    BuyerCancelResolution,
    Refund,
    RefundKind,
    RefundLine,
    RefundOrigin,
    RefundStatus,
    ShopifySync,
)
from tenants.models import AccountStatus, ApiKey, Merchant, ShopifyStore

AMAZON_REFUND_KIND = "amazon.refund"
AMAZON_CANCEL_KIND = "amazon.cancel_order"
# Polling a feed is a retry of its message: generous, so a slow Amazon does not fail it.
AMAZON_MAX_ATTEMPTS = 30
ON_HOLD = "amazon_account_not_connected"
ALREADY_REFUNDED = errors.AlreadyRefundedOnAmazon.code


# --- who acts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    actor_type: str
    name: str
    user_id: int | None = None
    api_key_id: int | None = None

    @classmethod
    def user(cls, user) -> Actor:
        return cls(ActorType.USER, user.get_full_name() or user.get_username(), user_id=user.pk)

    @classmethod
    def api_key(cls, key: ApiKey) -> Actor:
        return cls(ActorType.API_KEY, f"API key {key.name} ({key.prefix}…)", api_key_id=key.pk)

    @classmethod
    def system(cls, name: str = "Keelson") -> Actor:
        return cls(ActorType.SYSTEM, name)


AMAZON = Actor(ActorType.AMAZON, "Amazon")


# --- small helpers ---------------------------------------------------------------------------


def _event(order: Order, kind: str, message: str, actor: Actor, data: dict | None = None):
    return OrderEvent.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        kind=kind,
        message=message,
        actor_type=actor.actor_type,
        actor=actor.name,
        actor_user_id=actor.user_id,
        data=data or {},
    )


def _lock_order(order: Order | int) -> Order:
    order_id = order if isinstance(order, int) else order.pk
    return Order.objects.select_for_update().get(pk=order_id)


def _money(amount: Decimal, currency: str) -> str:
    return policy.money_text(amount, currency)


def _refusal(exc: policy.RefundRefused):
    cls = errors.POLICY_ERRORS.get(exc.code, errors.InvalidRefundInput)
    field_errors = {exc.field: [exc.message]} if exc.field else None
    return cls(exc.message, errors=field_errors if cls is errors.InvalidRefundInput else None)


def _fingerprint(data: dict) -> str:
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


def _replay(order: Order, key: str, fingerprint: str) -> Refund | None:
    """The refund already made with this request key, if any (a retried request)."""
    if not key:
        return None
    existing = Refund.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if existing.order_id != order.pk or existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            "This request key was already used for another refund. Use a new key for a new request."
        )
    return existing


def _shopify_state(order: Order) -> str:
    has_store = ShopifyStore.objects.filter(
        merchant_id=order.merchant_id, status=AccountStatus.ACTIVE
    ).exists()
    return ShopifySync.PENDING if has_store else ShopifySync.NOT_APPLICABLE


def amazon_hold_reason(order: Order) -> str | None:
    """Why nothing may be sent to Amazon for this order now (R8), or None."""
    merchant = Merchant.objects.get(pk=order.merchant_id)
    if not merchant.is_active:
        return f"the merchant {merchant.name} is deactivated"
    account = order.amazon_account
    if account is None:
        return "the order has no connected Amazon account"
    if account.status != AccountStatus.ACTIVE:
        return f"the Amazon account {account} is {account.get_status_display().lower()}"
    return None


def _check_order_allows(order: Order, action: order_policy.Action) -> None:
    """Pending (A1), AFN (R5), closed or (for a refund) unshipped orders, and F3: refused
    with the policy's code and reason, as the portal and ``allowed_actions`` show them."""
    ensure_action_allowed(order, action)
    # F3 by the fulfillment app's own record (the order's status may lag a moment).
    if has_fulfillment_request_in_progress(order):
        raise errors.FulfillmentRequestInProgress(
            "A fulfillment request is in progress: the order cannot be refunded or cancelled "
            "until the request ends (cancel it first).",
        )


def _check_not_refunded_on_amazon(order: Order) -> None:
    external = selectors.refunded_on_amazon(order)
    if external is not None:
        when = external.amazon_posted_at or external.created_at
        raise errors.AlreadyRefundedOnAmazon(
            f"Refund failed: already refunded on Amazon ({_money(external.total, order.currency)}"
            f" in Seller Central, {when:%Y-%m-%d}). Once Amazon refunded an order outside "
            "Keelson it can no longer be refunded here (R6): make further refunds in Seller "
            "Central."
        )


def _create(
    order: Order,
    plan: policy.Plan,
    *,
    actor: Actor,
    kind: str,
    reason: str = "",
    note: str = "",
    idempotency_key: str = "",
    fingerprint: str = "",
    cancel_reason: str = "",
    requested_reason: str = "",
    buyer_requested: bool = False,
) -> Refund:
    amazon = order.channel == Channel.AMAZON
    hold = amazon_hold_reason(order) if amazon else None
    refund = Refund(
        merchant_id=order.merchant_id,
        order=order,
        kind=kind,
        status=RefundStatus.PENDING if amazon else RefundStatus.SUCCEEDED,
        reason=reason,
        note=note,
        cancel_reason=cancel_reason,
        requested_reason=requested_reason,
        buyer_requested=buyer_requested,
        full_cancellation=plan.full_cancellation,
        currency=order.currency,
        items_amount=plan.items_amount,
        shipping_amount=plan.shipping_amount,
        total=plan.total,
        created_by_type=actor.actor_type,
        created_by_name=actor.name,
        created_by_user_id=actor.user_id,
        created_by_api_key_id=actor.api_key_id,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
        amazon_sync=(
            (AmazonSync.ON_HOLD if hold else AmazonSync.PENDING)
            if amazon
            else AmazonSync.NOT_APPLICABLE
        ),
        shopify_sync=_shopify_state(order),
        completed_at=None if amazon else timezone.now(),
    )
    try:
        with transaction.atomic():
            refund.save()
    except IntegrityError as exc:  # the same key on another order, at the same instant
        raise IdempotencyKeyReused("This request key was already used for another refund.") from exc
    order_lines = OrderLine.objects.in_bulk([p.line_id for p in plan.lines])
    RefundLine.objects.bulk_create(
        [
            RefundLine(
                merchant_id=order.merchant_id,
                refund=refund,
                order_line_id=p.line_id,
                external_item_id=order_lines[p.line_id].external_id,
                quantity=p.quantity,
                amount=p.amount,
                shipping_amount=p.shipping_amount,
                principal=p.components.principal,
                tax=p.components.tax,
                shipping=p.components.shipping,
                shipping_tax=p.components.shipping_tax,
            )
            for p in plan.lines
        ]
    )
    if amazon:
        enqueue(
            merchant_id=order.merchant_id,
            kind=AMAZON_CANCEL_KIND if kind == RefundKind.CANCELLATION else AMAZON_REFUND_KIND,
            payload={"refund": refund.pk},
            idempotency_key=selectors.amazon_message_key(refund),
            order_id=order.pk,
            max_attempts=AMAZON_MAX_ATTEMPTS,
        )
        if hold:
            refund.failure_message = _hold_text(hold)
            refund.save(update_fields=["failure_message"])
    else:
        refresh_financial_status(order)
    return refund


def _hold_text(why: str) -> str:
    return (
        f"Not sent to Amazon: {why}. Nothing is sent to Amazon while it is; once it is "
        "connected again, send it yourself from the refund's page (R8)."
    )


def _lines_text(refund: Refund) -> str:
    parts = []
    for line in refund.lines.select_related("order_line").all():
        label = line.order_line.sku if line.order_line else line.external_item_id
        if line.quantity:
            parts.append(f"{label} × {line.quantity}")
        elif line.amount:
            parts.append(f"{label} (price adjustment)")
    return ", ".join(parts) or "shipping only"


# --- refunds ---------------------------------------------------------------------------------


@transaction.atomic
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
    Amazon refunded outside Keelson (R6), and beyond what is left to refund
    (``refund_exceeds_balance``). Amazon orders are sent to Amazon through the outbox; the
    refund succeeds when Amazon accepts it."""
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
            f"Unknown reason {reason!r}.", errors={"reason": ["Use one of Amazon's reasons."]}
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
        f"Refund of {_money(refund.total, order.currency)} created ({_lines_text(refund)}; "
        f"shipping {_money(refund.shipping_amount, order.currency)}; reason {reason})."
        + (f" Note: {note}" if note else "")
        + sending,
        actor,
        {"refund": refund.pk, "total": str(refund.total), "currency": order.currency},
    )
    return refund


# --- cancellations ---------------------------------------------------------------------------


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
            f"Unknown cancel reason {reason!r}.", errors={"reason": [f"Use one of {choices}."]}
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
    what = "the whole order" if plan.full_cancellation else _lines_text(created)
    rule = {
        policy.BUYER_REQUESTED: " as the buyer asked (B4)",
        policy.ADDRESS_CHANGE: (
            " because the buyer wants another address: the buyer re-orders with it (A5)"
        ),
    }.get(reason, "")
    sending = (
        " Sending the cancellation to Amazon."
        if created.amazon_sync == AmazonSync.PENDING
        else (" " + created.failure_message if created.failure_message else "")
    )
    _event(
        order,
        EventKind.REFUND_CREATED,
        f"Cancellation of {what}{rule}, reason {amazon_reason}, with a refund of "
        f"{_money(created.total, order.currency)} (R7)."
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
        raise errors.InvalidTransition("The buyer has not asked to cancel this order.")
    if not reason:
        raise errors.InvalidRefundInput(
            "Say why you ship anyway.", errors={"reason": ["This field is required."]}
        )
    existing = selectors.buyer_cancel_resolution(order)
    if existing is not None:
        raise errors.InvalidTransition(
            f"This request was answered already ({existing.get_outcome_display().lower()})."
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
        f"The buyer's cancellation request was declined: shipping anyway. Reason: {reason}",
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
            f"Status changed from {before} to {order.status}.",
            actor,
            {"from": before, "to": order.status, "refund": refund.pk},
        )
        recompute_deadlines([order.pk])
        sync_fulfillment_orders([order.pk])
    refresh_financial_status(order)


# --- the financial status --------------------------------------------------------------------


def refresh_financial_status(order: Order) -> str:
    """Paid, partially refunded or refunded, from the refunds that succeeded (ours, and those
    Amazon made outside Keelson). A voided order (Amazon never took the money) stays voided."""
    if order.financial_status == FinancialStatus.VOIDED:
        return order.financial_status
    money = selectors.order_money(order)
    done = selectors.succeeded_total(order)
    if done <= 0:
        wanted = order.financial_status
        if wanted in (FinancialStatus.PARTIALLY_REFUNDED, FinancialStatus.REFUNDED):
            wanted = FinancialStatus.PAID
    elif done >= money.paid_total:
        wanted = FinancialStatus.REFUNDED
    else:
        wanted = FinancialStatus.PARTIALLY_REFUNDED
    if wanted != order.financial_status:
        Order.objects.filter(pk=order.pk).update(financial_status=wanted, updated_at=timezone.now())
        order.financial_status = wanted
    return wanted


# --- Amazon's answers (called by refunds/amazon.py through the outbox) -----------------------


def _locked_refund(refund_id: int) -> tuple[Order, Refund]:
    order_id = Refund.objects.filter(pk=refund_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise Refund.DoesNotExist(f"No refund {refund_id} in scope.")
    order = _lock_order(order_id)
    return order, Refund.objects.select_for_update().get(pk=refund_id)


@transaction.atomic
def mark_sending(refund_id: int) -> None:
    """About to create the feed: from now on an adjustment Amazon shows with this refund's
    money may be this refund (see ``record_external_refunds``)."""
    Refund.objects.filter(pk=refund_id, status=RefundStatus.PENDING).update(
        amazon_sync=AmazonSync.SENDING, updated_at=timezone.now()
    )


@transaction.atomic
def record_feed_document(refund_id: int, document_id: str) -> None:
    Refund.objects.filter(pk=refund_id).update(
        amazon_feed_document_id=document_id, updated_at=timezone.now()
    )


@transaction.atomic
def record_feed_submitted(refund_id: int, document_id: str, feed_id: str) -> None:
    now = timezone.now()
    Refund.objects.filter(pk=refund_id).update(
        amazon_feed_document_id=document_id,
        amazon_feed_id=feed_id,
        amazon_feed_status="IN_QUEUE",
        amazon_submitted_at=now,
        amazon_sync=AmazonSync.SUBMITTED,
        failure_code="",
        failure_message="",
        updated_at=now,
    )


@transaction.atomic
def record_feed_status(refund_id: int, status: str, report: dict | None = None) -> None:
    fields: dict = {"amazon_feed_status": status, "updated_at": timezone.now()}
    if report is not None:
        fields["amazon_report"] = report
    Refund.objects.filter(pk=refund_id).update(**fields)


def refund_succeeded(refund_id: int, result: Mapping) -> Refund:
    """Amazon accepted the feed (the outbox's on_sent, inside its transaction)."""
    order, refund = _locked_refund(refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    now = timezone.now()
    refund.status = RefundStatus.SUCCEEDED
    refund.amazon_sync = AmazonSync.SYNCED
    refund.amazon_synced_at = now
    refund.completed_at = now
    refund.failure_code = ""
    refund.failure_message = ""
    if result.get("report") is not None:
        refund.amazon_report = result["report"]
    refund.amazon_feed_status = result.get("feed_status") or refund.amazon_feed_status
    refund.save()
    cur = order.currency
    if refund.is_cancellation:
        what = "the order" if refund.full_cancellation else _lines_text(refund)
        _event(
            order,
            EventKind.ORDER_CANCELLED,
            f"Amazon cancelled {what} (reason {refund.cancel_reason}); the refund of "
            f"{_money(refund.total, cur)} is recorded.",
            AMAZON,
            {"refund": refund.pk, "feed": refund.amazon_feed_id, "rule": "R7"},
        )
        _apply_cancellation(order, refund, AMAZON)
    else:
        already = " (Amazon had it already)" if result.get("already_on_amazon") else ""
        _event(
            order,
            EventKind.REFUND_SUCCEEDED,
            f"Amazon accepted the refund of {_money(refund.total, cur)}{already}.",
            AMAZON,
            {"refund": refund.pk, "feed": refund.amazon_feed_id},
        )
        refresh_financial_status(order)
    return refund


def refund_failed(refund_id: int, code: str, message: str, *, final: bool = True) -> Refund:
    """The outbox gave up on the message (its on_failed, inside its transaction).

    - The account is not connected (R8): the refund waits, on hold, until a person sends it
      again after reconnecting; nothing is sent on its own.
    - The feed went to Amazon but its result could not be read: the refund stays pending (it
      may well be applied); sending it again only reads the result, it does not resend.
    - Otherwise it failed, with Amazon's reason, and the merchant is told.
    """
    order, refund = _locked_refund(refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    if code == ON_HOLD:
        return _hold(order, refund, message)
    if refund.amazon_feed_id and not final:
        refund.amazon_sync = AmazonSync.SUBMITTED
        refund.failure_code = code
        refund.failure_message = (
            f"Amazon's result for feed {refund.amazon_feed_id} could not be read: {message} "
            "Send it again to read the result (the feed is not sent twice)."
        )
        refund.save()
        _notify_failure(order, refund, "refund result unknown")
        return refund
    refund.status = RefundStatus.FAILED
    refund.amazon_sync = AmazonSync.FAILED
    refund.failure_code = code
    refund.failure_message = message
    refund.completed_at = timezone.now()
    refund.save()
    what = "Cancellation" if refund.is_cancellation else "Refund"
    _event(
        order,
        EventKind.REFUND_FAILED,
        f"{what} of {_money(refund.total, order.currency)} failed: {message}",
        AMAZON if code.startswith("amazon_") else Actor.system(),
        {"refund": refund.pk, "code": code},
    )
    if refund.buyer_requested:
        # The buyer's request is open again: the banner comes back (B1).
        BuyerCancelResolution.objects.filter(refund=refund).delete()
    _notify_failure(order, refund, f"{what.lower()} failed")
    refresh_financial_status(order)
    return refund


def hold_refund(refund_id: int, message: str) -> Refund:
    order, refund = _locked_refund(refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    return _hold(order, refund, message)


def _hold(order: Order, refund: Refund, why: str) -> Refund:
    refund.amazon_sync = AmazonSync.ON_HOLD
    refund.failure_code = ON_HOLD
    refund.failure_message = _hold_text(why)
    refund.save()
    _event(
        order,
        EventKind.NOTE,
        f"{'Cancellation' if refund.is_cancellation else 'Refund'} #{refund.pk} is on hold: "
        f"{refund.failure_message}",
        Actor.system(),
        {"refund": refund.pk, "code": ON_HOLD, "rule": "R8"},
    )
    _notify_failure(order, refund, "not sent to Amazon")
    return refund


def _notify_failure(order: Order, refund: Refund, what: str) -> None:
    notify_merchant(
        Merchant.objects.get(pk=order.merchant_id),
        NotificationKind.GENERAL,
        f"Order {order.external_id}: {what}: {_short(refund.failure_message)}",
        refund.failure_message,
        order,
    )


def _short(text: str) -> str:
    first = text.split(" (Amazon ")[0].split(". ")[0].rstrip(".")
    return (first[:150] + "…") if len(first) > 150 else first


@transaction.atomic
def send_again(refund: Refund | int, *, actor: Actor) -> Refund:
    """Send a refund (or cancellation) to Amazon again: one on hold while the account was not
    connected (R8: only ever by a person's explicit request), or one whose result could not be
    read. The same outbox message is retried, so Amazon never gets it twice."""
    refund_id = refund if isinstance(refund, int) else refund.pk
    order, refund = _locked_refund(refund_id)
    if refund.status != RefundStatus.PENDING or refund.amazon_sync not in (
        AmazonSync.ON_HOLD,
        AmazonSync.SUBMITTED,
    ):
        raise errors.InvalidTransition(
            f"This {'cancellation' if refund.is_cancellation else 'refund'} is "
            f"{refund.get_status_display().lower()} ({refund.get_amazon_sync_display()}): there "
            "is nothing to send again."
        )
    hold = amazon_hold_reason(order)
    if hold:
        raise errors.AmazonAccountNotConnected(
            f"Cannot send it now: {hold}. Connect it again first."
        )
    message = selectors.outbox_message_for(refund)
    if message is None:
        raise errors.InvalidTransition("Nothing was queued for Amazon for it.")
    refund.amazon_sync = AmazonSync.SUBMITTED if refund.amazon_feed_id else AmazonSync.PENDING
    refund.failure_code = ""
    refund.failure_message = ""
    refund.save()
    if message.status != OutboxStatus.PENDING:  # a pending one is on its way already
        retry_message(message=message)
    _event(
        order,
        EventKind.NOTE,
        f"{'Cancellation' if refund.is_cancellation else 'Refund'} #{refund.pk} sent to Amazon "
        "again on request.",
        actor,
        {"refund": refund.pk, "rule": "R8"},
    )
    return refund


# --- refunds made on Amazon (R6) -------------------------------------------------------------


@dataclass
class ExternalRefundsResult:
    recorded: list[Refund] = field(default_factory=list)  # new refunds made outside Keelson
    matched: dict[str, int] = field(default_factory=dict)  # Amazon event key -> our refund

    @property
    def changed(self) -> bool:
        return bool(self.recorded or self.matched)


@transaction.atomic
def record_external_refunds(
    order: Order | int, financial_events: Mapping, *, sending: int | None = None
) -> ExternalRefundsResult:
    """Compare Amazon's refund events of the order (listFinancialEventsByOrderId) with ours.

    An event with the money of one of our refunds sent to Amazon is that refund; any other was
    made outside Keelson (Seller Central): it is recorded as a refund from Amazon, shown on the
    timeline as external, and blocks further refunds here (R6). Idempotent (events are keyed by
    Amazon's adjustment ids). ``sending``: the refund about to be sent, which an event may also
    match (it reached Amazon on an attempt whose answer was lost).
    """
    order = _lock_order(order)
    events = policy.parse_refund_events(
        financial_events, order.currency, tax_included=selectors.is_tax_included(order)
    )
    known = set(
        Refund.objects.filter(order=order)
        .exclude(amazon_refund_key="")
        .values_list("amazon_refund_key", flat=True)
    )
    candidates = []
    for refund in (
        Refund.objects.filter(
            order=order,
            origin=RefundOrigin.KEELSON,
            kind=RefundKind.REFUND,
            amazon_refund_key="",
            status__in=selectors.LIVE,
        )
        .prefetch_related("lines")
        .order_by("id")
    ):
        sent = refund.amazon_sync in (AmazonSync.SENDING, AmazonSync.SUBMITTED, AmazonSync.SYNCED)
        if sent or refund.pk == sending:
            signature = policy.refund_signature(
                (
                    line.external_item_id,
                    policy.Components(line.principal, line.tax, line.shipping, line.shipping_tax),
                )
                for line in refund.lines.all()
            )
            candidates.append((refund.pk, signature))
    reconciliation = policy.reconcile(events, known, candidates)
    result = ExternalRefundsResult(matched=reconciliation.matched)
    posted = {e.key: _posted(e.posted_date) for e in events}
    for key, refund_id in reconciliation.matched.items():
        Refund.objects.filter(pk=refund_id).update(
            amazon_refund_key=key, amazon_posted_at=posted.get(key), updated_at=timezone.now()
        )
    for event in reconciliation.external:
        result.recorded.append(_record_external(order, event, posted.get(event.key)))
    if result.recorded:
        refresh_financial_status(order)
    return result


def _posted(text: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _record_external(order: Order, event: policy.AmazonRefundEvent, posted) -> Refund:
    cur = order.currency
    lines_by_item = {line.external_id: line for line in OrderLine.objects.filter(order=order)}
    items = sum((c.item for _, c, _ in event.items), Decimal(0))
    shipping = sum((c.shipping_total for _, c, _ in event.items), Decimal(0))
    refund = Refund.objects.create(
        merchant_id=order.merchant_id,
        order=order,
        kind=RefundKind.REFUND,
        origin=RefundOrigin.AMAZON,
        status=RefundStatus.SUCCEEDED,
        reason="",
        currency=cur,
        items_amount=items,
        shipping_amount=shipping,
        total=items + shipping,
        created_by_type=ActorType.AMAZON,
        created_by_name="Amazon (Seller Central)",
        amazon_sync=AmazonSync.FROM_AMAZON,
        amazon_refund_key=event.key,
        amazon_posted_at=posted,
        amazon_synced_at=timezone.now(),
        completed_at=timezone.now(),
    )
    RefundLine.objects.bulk_create(
        [
            RefundLine(
                merchant_id=order.merchant_id,
                refund=refund,
                order_line=lines_by_item.get(item_id),
                external_item_id=item_id,
                quantity=quantity or 0,
                amount=comps.item,
                shipping_amount=comps.shipping_total,
                principal=comps.principal,
                tax=comps.tax,
                shipping=comps.shipping,
                shipping_tax=comps.shipping_tax,
            )
            for item_id, comps, quantity in event.items
        ]
    )
    message = (
        f"Refunded on Amazon, outside Keelson (Seller Central): {_money(refund.total, cur)}. "
        "It is recorded here so reports are right; the order can no longer be refunded in "
        "Keelson (R6)."
    )
    _event(
        order,
        EventKind.EXTERNAL_REFUND,
        message,
        AMAZON,
        {"refund": refund.pk, "amazon_key": event.key, "posted": event.posted_date, "rule": "R6"},
    )
    notify_merchant(
        Merchant.objects.get(pk=order.merchant_id),
        NotificationKind.GENERAL,
        f"Order {order.external_id} was refunded on Amazon ({_money(refund.total, cur)})",
        message,
        order,
    )
    return refund


def check_before_sending(refund_id: int, financial_events: Mapping) -> str:
    """R6, right before a refund goes to Amazon: "applied" when Amazon shows this very refund
    already (sent on an attempt whose answer was lost), "blocked" when Amazon refunded the
    order outside Keelson, "clear" otherwise."""
    order_id = Refund.objects.filter(pk=refund_id).values_list("order_id", flat=True).get()
    record_external_refunds(order_id, financial_events, sending=refund_id)
    if Refund.objects.filter(pk=refund_id).exclude(amazon_refund_key="").exists():
        return "applied"
    if selectors.refunded_on_amazon(order_id) is not None:
        return "blocked"
    return "clear"
