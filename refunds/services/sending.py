"""Amazon's answers to what we sent (called by ``refunds/amazon.py`` through the outbox): the
feed's progress, success, failure (the merchant is told), the hold while the account is not
connected, and sending again (R8).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from foundation.text import N_, Amount
from integrations.outbox.models import OutboxStatus
from integrations.outbox.services import retry_message
from notifications.models import NotificationKind
from notifications.services import notify_merchant
from orders.models import EventKind, Order
from refunds import errors, selectors
from refunds.models import (
    AmazonSync,
    BuyerCancelResolution,
    Refund,
    RefundStatus,
    ShopifySync,
)
from refunds.services.base import (
    AMAZON,
    ON_HOLD,
    Actor,
    _event,
    _hold_text,
    _lines_text,
    _lock_order,
    _money,
    amazon_hold_reason,
    refresh_financial_status,
)
from refunds.services.cancellations import _apply_cancellation
from refunds.services.shopify import enqueue_shopify_mirror
from tenants.models import Merchant


def _locked_refund(refund_id: int) -> tuple[Order, Refund]:
    order_id = Refund.objects.filter(pk=refund_id).values_list("order_id", flat=True).first()
    if order_id is None:
        raise Refund.DoesNotExist(_("No refund %(refund_id)s in scope.") % {"refund_id": refund_id})
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
        what = N_("the order") if refund.full_cancellation else _lines_text(refund)
        _event(
            order,
            EventKind.ORDER_CANCELLED,
            N_(
                "Amazon cancelled %(what)s (reason %(cancel_reason)s); the refund of "
                "%(money)s is recorded.",
                what=what,
                cancel_reason=refund.cancel_reason,
                money=Amount(refund.total, cur),
            ),
            AMAZON,
            {"refund": refund.pk, "feed": refund.amazon_feed_id, "rule": "R7"},
        )
        _apply_cancellation(order, refund, AMAZON)
    else:
        already = N_(" (Amazon had it already)") if result.get("already_on_amazon") else ""
        _event(
            order,
            EventKind.REFUND_SUCCEEDED,
            N_(
                "Amazon accepted the refund of %(money)s%(already)s.",
                money=Amount(refund.total, cur),
                already=already,
            ),
            AMAZON,
            {"refund": refund.pk, "feed": refund.amazon_feed_id},
        )
        refresh_financial_status(order)
    # Now that Amazon has it, the order's Shopify mirror gets it too (once).
    enqueue_shopify_mirror(order, refund)
    return refund


def refund_failed(
    refund_id: int, code: str, message: str, *, final: bool = True, may_be_on_amazon: bool = False
) -> Refund:
    """The outbox gave up on the message (its on_failed, inside its transaction).

    - The account is not connected (R8): the refund waits, on hold, until a person sends it
      again after reconnecting; nothing is sent on its own.
    - The feed went to Amazon (or createFeed was attempted for its batch:
      ``may_be_on_amazon``) but its result could not be read: the refund stays pending (it
      may well be applied); sending it again only reads the result (or resumes the same
      feed, whose adjustment ids Amazon does not apply twice).
    - Otherwise it failed, with Amazon's reason, and the merchant is told.
    """
    order, refund = _locked_refund(refund_id)
    if refund.status != RefundStatus.PENDING:
        return refund
    if code == ON_HOLD:
        return _hold(order, refund, message)
    if (refund.amazon_feed_id or may_be_on_amazon) and not final:
        refund.amazon_sync = AmazonSync.SUBMITTED
        refund.failure_code = code
        refund.failure_message = (
            f"Amazon's result for feed {refund.amazon_feed_id or '(id not yet known)'} could "
            f"not be read: {message} "
            "Send it again to read the result (the feed is not sent twice)."
        )
        refund.save()
        _notify_failure(order, refund, "refund result unknown")
        return refund
    refund.status = RefundStatus.FAILED
    refund.amazon_sync = AmazonSync.FAILED
    if refund.shopify_sync == ShopifySync.PENDING:
        # Amazon refused it: nothing happened, so nothing goes to the Shopify mirror either.
        refund.shopify_sync = ShopifySync.NOT_APPLICABLE
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
        N_(
            "Order %(external_id)s: %(what)s: %(short)s",
            external_id=order.external_id,
            what=what,
            short=_short(refund.failure_message),
        ),
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
            (
                _(
                    "This cancellation is %(status)s (%(amazon_sync)s): there is nothing to "
                    "send again."
                )
                if refund.is_cancellation
                else _(
                    "This refund is %(status)s (%(amazon_sync)s): there is nothing to send again."
                )
            )
            % {
                "status": refund.get_status_display().lower(),
                "amazon_sync": refund.get_amazon_sync_display(),
            }
        )
    hold = amazon_hold_reason(order)
    if hold:
        raise errors.AmazonAccountNotConnected(
            _("Cannot send it now: %(hold)s. Connect it again first.") % {"hold": hold}
        )
    message = selectors.outbox_message_for(refund)
    if message is None:
        raise errors.InvalidTransition(_("Nothing was queued for Amazon for it."))
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
