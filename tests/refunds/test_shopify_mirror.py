"""Mirror out, refunds and cancellations (issue 12; R6, R7, R4): a refund or cancellation made in
Keelson is written to the order's Shopify mirror once Amazon accepted it, exactly once, the
buyer never notified, and ``Refund.shopify_sync`` goes pending -> synced (or failed) in the
outbox ack's transaction. Both emulators over real HTTP, the outbox's real delivery."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.outbox.models import OutboxStatus
from orders.models import EventKind, OrderEvent, ShopifyState
from orders.tasks import reconcile_shopify_mirrors
from refunds import services
from refunds.models import RefundStatus, ShopifySync
from refunds.policy import RequestedLine
from tenants.scope import tenant_context
from tests.refunds.conftest import ACTOR
from tests.support.shopify_mirror import connect_store, running_mirror

pytestmark = pytest.mark.django_db(transaction=True)


def refund(mirror, order, quantity=1, shipping=None):
    with tenant_context(mirror.merchant):
        line = order.lines.get()
        return services.create_refund(
            order.pk,
            actor=ACTOR,
            lines=[RequestedLine(line.pk, quantity, None)],
            shipping_amount=shipping,
        )


def cancel(mirror, order, amount, reason="NoInventory"):
    with tenant_context(mirror.merchant):
        return services.cancel_order(order.pk, actor=ACTOR, reason=reason, refund=amount)


def mirrored(mirror, shipped=False):
    order = mirror.place(shipped=shipped)
    mirror.deliver()
    order = mirror.fresh(order)
    assert order.shopify_state == ShopifyState.SYNCED
    return order


def test_a_refund_made_in_keelson_is_mirrored_to_shopify_once_amazon_accepted_it_R6_R4(
    make_merchant,
):
    with running_mirror(make_merchant) as mirror:
        order = mirrored(mirror, shipped=True)
        made = refund(mirror, order, quantity=1, shipping=Decimal("5.00"))
        assert made.shopify_sync == ShopifySync.PENDING
        # Nothing goes to Shopify before Amazon has it.
        assert mirror.messages(services.SHOPIFY_REFUND_KIND) == []
        mirror.deliver()

        made = mirror.fresh(made)
        assert made.status == RefundStatus.SUCCEEDED
        assert made.shopify_sync == ShopifySync.SYNCED
        (message,) = mirror.messages(services.SHOPIFY_REFUND_KIND)
        assert message.status == OutboxStatus.SENT
        (created,) = mirror.store_orders()
        (shopify_refund,) = created.refunds.all()
        assert shopify_refund.notify is False  # R4
        assert shopify_refund.note.startswith(f"Keelson refund #{made.pk}")
        assert shopify_refund.shipping_amount == Decimal("5.00")
        assert [(x["quantity"], x["restock_type"]) for x in shopify_refund.lines] == [
            (1, "NO_RESTOCK")
        ]
        (money_back,) = shopify_refund.transactions.all()
        assert money_back.amount == made.total == Decimal("26.60")  # 20 + 1.60 tax + 5

        # Sent again (a retry after a lost ack): the order's refunds are read first.
        with tenant_context(mirror.merchant):
            message.status = OutboxStatus.PENDING
            message.save(update_fields=["status"])
        mirror.deliver_once()
        assert mirror.fresh(message).result["found_existing"] is True
        assert created.refunds.count() == 1


def test_a_full_cancellation_cancels_the_shopify_order_with_its_refund_and_restock_R7(
    make_merchant,
):
    with running_mirror(make_merchant) as mirror:
        order = mirrored(mirror)
        made = cancel(mirror, order, Decimal("48.20"))
        mirror.deliver()
        made = mirror.fresh(made)
        assert (made.status, made.shopify_sync) == (RefundStatus.SUCCEEDED, ShopifySync.SYNCED)
        (message,) = mirror.messages(services.SHOPIFY_CANCEL_KIND)
        assert message.status == OutboxStatus.SENT
        (created,) = mirror.store_orders()
        assert created.cancelled_at is not None and created.cancel_reason == "INVENTORY"
        refunded = sum((t.amount for t in created.transactions.filter(kind="REFUND")), Decimal(0))
        assert refunded == Decimal("48.20")


def test_a_cancellation_refunding_less_than_paid_refunds_exactly_that_in_shopify_R7(
    make_merchant,
):
    with running_mirror(make_merchant) as mirror:
        order = mirrored(mirror)
        made = cancel(mirror, order, Decimal("10.00"))
        mirror.deliver()
        assert mirror.fresh(made).shopify_sync == ShopifySync.SYNCED
        (created,) = mirror.store_orders()
        assert created.cancelled_at is not None
        refunds = list(created.refunds.all())
        assert len(refunds) == 1 and refunds[0].note.startswith(f"Keelson refund #{made.pk}")
        refunded = sum((t.amount for t in created.transactions.filter(kind="REFUND")), Decimal(0))
        assert refunded == Decimal("10.00")
        # Delivered again: neither a second refund nor a second cancellation.
        (message,) = mirror.messages(services.SHOPIFY_CANCEL_KIND)
        with tenant_context(mirror.merchant):
            message.status = OutboxStatus.PENDING
            message.save(update_fields=["status"])
        mirror.deliver_once()
        assert mirror.fresh(message).result["found_existing"] is True
        assert created.refunds.count() == 1


def test_a_refund_shopify_refuses_is_failed_on_the_mirror_only_in_plain_words(make_merchant):
    with running_mirror(make_merchant) as mirror:
        order = mirrored(mirror, shipped=True)
        made = refund(mirror, order)
        # The store's token is revoked (Amazon is not affected).
        mirror.shopify.control.inject_fault("unauthorized", count=10)
        mirror.deliver()
        made = mirror.fresh(made)
        assert made.status == RefundStatus.SUCCEEDED  # Amazon accepted it: it stands
        assert made.shopify_sync == ShopifySync.FAILED
        (message,) = mirror.messages(services.SHOPIFY_REFUND_KIND)
        assert message.status == OutboxStatus.FAILED
        assert "refused Keelson's access token" in message.last_error
        with tenant_context(mirror.merchant):
            texts = list(
                OrderEvent.objects.filter(order=order, kind=EventKind.OUTBOX).values_list(
                    "message", flat=True
                )
            )
        assert any(f"Refund #{made.pk} was not written to Shopify" in t for t in texts)


def test_without_a_store_a_refund_is_not_mirrored(make_merchant):
    with running_mirror(make_merchant, with_store=False) as mirror:
        order = mirror.place(shipped=True)
        made = refund(mirror, order)
        mirror.deliver()
        made = mirror.fresh(made)
        assert (made.status, made.shopify_sync) == (
            RefundStatus.SUCCEEDED,
            ShopifySync.NOT_APPLICABLE,
        )
        assert mirror.messages(services.SHOPIFY_REFUND_KIND) == []


def test_a_refund_amazon_refuses_never_reaches_shopify_R6(make_merchant):
    """Refunded in Seller Central before Keelson sent its refund: Amazon's check fails ours
    (R6), so Shopify must not show a refund that did not happen."""
    with running_mirror(make_merchant) as mirror:
        order = mirrored(mirror, shipped=True)
        made = refund(mirror, order)
        assert made.shopify_sync == ShopifySync.PENDING
        mirror.amazon.control.refund_in_seller_central(
            mirror.account.selling_partner_id, order.external_id
        )
        mirror.deliver()
        made = mirror.fresh(made)
        assert made.status == RefundStatus.FAILED
        assert made.shopify_sync == ShopifySync.NOT_APPLICABLE
        assert mirror.messages(services.SHOPIFY_REFUND_KIND) == []
        (created,) = mirror.store_orders()
        assert created.refunds.count() == 0


def test_an_order_amazon_cancelled_after_it_was_mirrored_is_cancelled_in_shopify_once_R7_R4(
    make_merchant,
):
    """A8: Amazon cancels an MFN order not confirmed within 30 days. The store's mirror is
    cancelled too (restocked, the paid amount given back, the buyer not notified), once."""
    with running_mirror(make_merchant) as mirror:
        order = mirrored(mirror)
        mirror.amazon.control.advance_clock(days=31)
        again = mirror.reimport(order)
        assert again.status == "Canceled"
        mirror.reimport(order)  # seen again: still one message
        (message,) = mirror.messages(services.SHOPIFY_AMAZON_CANCELLATION_KIND)
        mirror.deliver()

        message = mirror.fresh(message)
        assert message.status == OutboxStatus.SENT
        assert message.result["found_existing"] is False
        (created,) = mirror.store_orders()
        assert created.cancelled_at is not None
        with tenant_context(mirror.merchant):
            assert OrderEvent.objects.filter(
                order=order, kind=EventKind.OUTBOX, message__contains="as Amazon cancelled"
            ).exists()
        # A retry after a lost ack finds it cancelled and changes nothing.
        with tenant_context(mirror.merchant):
            message.status = OutboxStatus.PENDING
            message.save(update_fields=["status"])
        mirror.deliver_once()
        assert mirror.fresh(message).result["found_existing"] is True


def test_a_cancellation_made_in_keelson_is_not_written_again_when_amazon_reports_it_R7(
    make_merchant,
):
    with running_mirror(make_merchant) as mirror:
        order = mirrored(mirror)
        made = cancel(mirror, order, Decimal("48.20"))
        mirror.deliver()
        assert mirror.fresh(made).shopify_sync == ShopifySync.SYNCED
        again = mirror.reimport(order)
        assert again.status == "Canceled"
        assert mirror.messages(services.SHOPIFY_AMAZON_CANCELLATION_KIND) == []
        assert len(mirror.messages(services.SHOPIFY_CANCEL_KIND)) == 1


def test_a_refund_made_before_the_store_was_connected_is_mirrored_by_the_reconcile_R6(
    make_merchant,
):
    """Reconcile (issue 12): the store gets the order, then the refund Amazon accepted before
    the store was connected, once."""
    with running_mirror(make_merchant, with_store=False) as mirror:
        order = mirror.place(shipped=True)
        made = refund(mirror, order, quantity=1)
        mirror.deliver()
        made = mirror.fresh(made)
        assert (made.status, made.shopify_sync) == (
            RefundStatus.SUCCEEDED,
            ShopifySync.NOT_APPLICABLE,
        )
        connect_store(mirror.merchant, mirror.shopify)

        first = reconcile_shopify_mirrors()
        again = reconcile_shopify_mirrors()
        mirror.deliver()

        assert first["queued"] == {mirror.merchant.pk: {"orders": 1, "refunds": 1}}
        assert again["queued"] == {}
        assert mirror.fresh(made).shopify_sync == ShopifySync.SYNCED
        (created,) = mirror.store_orders()
        (shopify_refund,) = created.refunds.all()
        assert shopify_refund.note.startswith(f"Keelson refund #{made.pk}")
        assert reconcile_shopify_mirrors()["queued"] == {}
