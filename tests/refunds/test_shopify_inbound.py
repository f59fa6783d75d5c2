"""Refunds and cancellations made in the merchant's Shopify admin (issue 12, R6, R7): the
webhook, signed and delivered by the emulator to our live server, becomes a Keelson refund
sent to Amazon; on an order Amazon already refunded it is refused and reported (timeline,
notification); a cancellation in Shopify cancels on Amazon with its refund; our own refund
coming back changes nothing."""

from __future__ import annotations

import pytest

from integrations.models import WebhookStatus
from notifications.models import Notification
from orders.models import OrderEvent, ShopifyState
from refunds import policy
from refunds.models import Refund, RefundKind, RefundOrigin, RefundStatus
from refunds.services import Actor, create_refund
from refunds.tasks import check_external_refunds
from tenants.scope import tenant_context
from tests.support.shopify_mirror import running_mirror
from tests.support.shopify_webhooks import receive, subscribe

pytestmark = pytest.mark.django_db(transaction=True)

ITEMS = ({"quantity": 2, "unit_price": "20.00", "seller_sku": "TENT-2P", "item_tax": "0.00"},)


def mirrored(mirror, *, shipped: bool = True):
    order = mirror.place(ITEMS, shipped=shipped)
    mirror.deliver()
    assert mirror.fresh(order).shopify_state == ShopifyState.SYNCED
    (created,) = mirror.store_orders()
    return order, created


def test_a_refund_in_shopify_becomes_a_keelson_refund_sent_to_amazon_R6(
    make_merchant, live_server, settings
):
    with running_mirror(make_merchant) as mirror:
        subscribe(mirror, live_server, settings)
        order, created = mirrored(mirror)
        item = created.line_items.get()

        mirror.shopify.control.refund(
            mirror.domain, created.pk, lines=[{"line_item_id": item.pk, "quantity": 1}]
        )
        (receipt,) = receive(mirror, "refunds/create")

        assert receipt.status == WebhookStatus.PROCESSED, receipt.outcome
        with tenant_context(mirror.merchant):
            (refund,) = Refund.objects.filter(order=order, origin=RefundOrigin.KEELSON)
            assert [(rl.order_line.sku, rl.quantity) for rl in refund.lines.all()] == [
                ("TENT-2P", 1)
            ]
        mirror.deliver()  # the payment-adjustment feed to Amazon
        assert mirror.fresh(refund).status == RefundStatus.SUCCEEDED
        # Shopify already has it: not refunded there a second time.
        assert created.refunds.count() == 1
        assert mirror.fresh(refund).shopify_sync == "synced"


def test_a_refund_in_shopify_of_an_order_amazon_already_refunded_is_refused_and_reported_R6(
    make_merchant, live_server, settings
):
    with running_mirror(make_merchant) as mirror:
        subscribe(mirror, live_server, settings)
        order, created = mirrored(mirror)
        sid = mirror.amazon.seller["selling_partner_id"]
        mirror.amazon.control.refund_in_seller_central(sid, order.external_id)
        check_external_refunds(mirror.merchant.pk, [order.pk])
        item = created.line_items.get()

        mirror.shopify.control.refund(
            mirror.domain, created.pk, lines=[{"line_item_id": item.pk, "quantity": 1}]
        )
        (receipt,) = receive(mirror, "refunds/create")

        assert receipt.status == WebhookStatus.FAILED
        assert "Amazon" in receipt.outcome
        with tenant_context(mirror.merchant):
            assert not Refund.objects.filter(order=order, origin=RefundOrigin.KEELSON).exists()
            event = OrderEvent.objects.filter(order=order, actor="Shopify").get()
            assert "was not applied in Keelson" in event.message
            notice = Notification.objects.get(order=order, title__contains="refused")
            assert "in Shopify" in notice.title


def test_our_own_refund_coming_back_from_shopify_changes_nothing(
    make_merchant, live_server, settings
):
    with running_mirror(make_merchant) as mirror:
        subscribe(mirror, live_server, settings)
        order, _created = mirrored(mirror)
        with tenant_context(mirror.merchant):
            line = order.lines.get()
            create_refund(
                order.pk,
                actor=Actor.system("test"),
                lines=[policy.RequestedLine(line.pk, 1)],
            )
        mirror.deliver()  # to Amazon, then to Shopify with our marker

        (receipt,) = receive(mirror, "refunds/create")

        assert "A refund Keelson made" in receipt.outcome
        with tenant_context(mirror.merchant):
            assert Refund.objects.filter(order=order, origin=RefundOrigin.KEELSON).count() == 1


def test_a_cancellation_in_shopify_cancels_on_amazon_with_its_refund_R7(
    make_merchant, live_server, settings
):
    with running_mirror(make_merchant) as mirror:
        subscribe(mirror, live_server, settings)
        order, created = mirrored(mirror, shipped=False)

        mirror.shopify.control.cancel(mirror.domain, created.pk, refund=True)
        (receipt,) = receive(mirror, "orders/cancelled")

        assert receipt.status == WebhookStatus.PROCESSED, receipt.outcome
        with tenant_context(mirror.merchant):
            (cancellation,) = Refund.objects.filter(order=order, kind=RefundKind.CANCELLATION)
            assert cancellation.total > 0  # R7: cancelling needs a refund
        mirror.deliver()
        amazon = mirror.amazon.control.order(
            mirror.amazon.seller["selling_partner_id"], order.external_id
        )
        assert amazon["status"] == "Canceled", amazon
