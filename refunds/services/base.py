"""What every refund use case shares: who acts (``Actor``), the outbox kinds, locking the order,
replaying an idempotent request, the holds while the Amazon account is not connected (R8), the
checks of the order's policy (A1, R5, F3) and of refunds already made on Amazon (R6), creating
the refund with its lines and outbox message, and the order's financial status.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from foundation.api.errors import IdempotencyKeyReused
from foundation.text import N_
from fulfillment.selectors import has_fulfillment_request_in_progress
from integrations.amazon.feed_batches import BatchKey
from integrations.outbox.services import enqueue
from integrations.shopify.delivery import active_store
from orders import policy as order_policy
from orders.models import (
    ActorType,
    Channel,
    FinancialStatus,
    Order,
    OrderEvent,
    OrderLine,
    ShopifyState,
)
from orders.services import ensure_action_allowed
from refunds import errors, feeds, policy, selectors
from refunds.models import AmazonSync, Refund, RefundKind, RefundLine, RefundStatus, ShopifySync
from tenants.models import AccountStatus, ApiKey, Merchant

AMAZON_REFUND_KIND = "amazon.refund"


AMAZON_CANCEL_KIND = "amazon.cancel_order"


# Polling a feed is a retry of its message: generous, so a slow Amazon does not fail it.
AMAZON_MAX_ATTEMPTS = 30


ON_HOLD = "amazon_account_not_connected"


ALREADY_REFUNDED = errors.AlreadyRefundedOnAmazon.code


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
            _(
                "This request key was already used for another refund. Use a new key for a "
                "new request."
            )
        )
    return existing


def _shopify_state(order: Order) -> str:
    """Pending when the order is (or is being) mirrored to a connected Shopify store: the
    refund is written there once Amazon accepted it (refunds/services/shopify.py)."""
    if order.channel != Channel.AMAZON or order.shopify_state == ShopifyState.NOT_APPLICABLE:
        return ShopifySync.NOT_APPLICABLE
    return ShopifySync.PENDING if active_store(order.merchant_id) else ShopifySync.NOT_APPLICABLE


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
            _(
                "Refund failed: already refunded on Amazon (%(money)s in Seller Central, "
                "%(when)s). Once Amazon refunded an order outside Keelson it can no longer be "
                "refunded here (R6): make further refunds in Seller Central."
            )
            % {"money": _money(external.total, order.currency), "when": format(when, "%Y-%m-%d")}
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
        raise IdempotencyKeyReused(
            _("This request key was already used for another refund.")
        ) from exc
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
            payload={"refund": refund.pk, "feed_batch": _feed_batch_hint(order, kind)},
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


def _feed_batch_hint(order: Order, kind: str) -> str:
    """Which Amazon feed batch the message will join (integrations.amazon.feed_batches): its
    batch waits for it while it is due and has not joined yet."""
    feed_type = (
        feeds.ORDER_ACKNOWLEDGEMENT
        if kind == RefundKind.CANCELLATION
        else (feeds.PAYMENT_ADJUSTMENT)
    )
    return BatchKey(
        order.amazon_account_id or 0,
        feed_type,
        feeds.MESSAGE_TYPES[feed_type],
        order.marketplace_id,
    ).hint


def _hold_text(why: str) -> str:
    return (
        f"Not sent to Amazon: {why}. Nothing is sent to Amazon while it is; once it is "
        "connected again, send it yourself from the refund's page (R8)."
    )


def _lines_text(refund: Refund) -> str:
    """The refund's lines for the timeline ("SKU-1 × 2, SKU-2 (price adjustment)"), each
    reader's words kept translatable (a ``Text`` of the parts)."""
    parts: list[str] = []
    for line in refund.lines.select_related("order_line").all():
        label = line.order_line.sku if line.order_line else line.external_item_id
        if line.quantity:
            parts.append(f"{label} × {line.quantity}")
        elif line.amount:
            parts.append(N_("%(label)s (price adjustment)", label=label))
    if not parts:
        return N_("shipping only")
    # A list, not a sentence: its template joins the parts and needs no translation.
    template = ", ".join(f"%(part{i})s" for i in range(len(parts)))
    return N_(template, **{f"part{i}": part for i, part in enumerate(parts)})


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
