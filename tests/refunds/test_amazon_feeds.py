"""Refunds sent to Amazon through the outbox, against the SP-API emulator with the real
python-amazon-sp-api classes: the payment-adjustment feed (document, upload, feed, polling,
processing report); success only when Amazon accepted it, failure with Amazon's reason and a
notification; the R6 race; refunds made in Seller Central found in the Finances events; no
feed sent twice."""

from __future__ import annotations

from decimal import Decimal

import pytest

from integrations.outbox.models import OutboxMessage, OutboxStatus
from notifications.models import Notification
from orders.models import EventKind, Order, OrderEvent
from refunds import services, tasks
from refunds.models import AmazonSync, Refund, RefundStatus
from refunds.policy import RequestedLine
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.scope import tenant_context
from tests.refunds.amazon import (
    connect,
    deliver_all,
    deliver_once,
    fast_feeds,
    feeds_received,
    gateway,
    import_orders,
    place,
    ship,
)
from tests.refunds.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)

ITEM = {
    "quantity": 2,
    "unit_price": "20.00",
    "seller_sku": "TENT-2P",
    "item_tax": "3.20",
    "shipping_price": "5.00",
    "shipping_tax": "0.00",
}


@pytest.fixture
def sandbox(transactional_db):
    with running_amazon_sandbox(rate_limits=False) as running:
        yield running


@pytest.fixture
def seller(make_merchant, sandbox):
    merchant = make_merchant(name="Emulated merchant")
    return merchant, connect(merchant, sandbox.seller)


def shipped_order(sandbox, account, items=(ITEM,)) -> Order:
    amazon_id = place(sandbox, sandbox.seller, list(items))
    ship(sandbox, account, amazon_id)
    (order,) = import_orders(account, amazon_id)
    assert order.status == "Shipped"
    return order


def refund_lines(merchant, order, quantity=1, amount=None, shipping=None):
    with tenant_context(merchant):
        line = order.lines.get()
        return services.create_refund(
            order.pk,
            actor=ACTOR,
            lines=[RequestedLine(line.pk, quantity, amount)],
            shipping_amount=shipping,
        )


def fresh(merchant, obj):
    with tenant_context(merchant):
        obj.refresh_from_db()
    return obj


def amazon_refunds(sandbox, order) -> list[dict]:
    return sandbox.control.order(sandbox.seller["selling_partner_id"], order.external_id)["refunds"]


def test_a_refund_succeeds_only_once_amazon_accepted_the_feed(seller, sandbox):
    merchant, account = seller
    fast_feeds(sandbox)
    order = shipped_order(sandbox, account)
    refund = refund_lines(merchant, order, quantity=1, shipping=Decimal("2.50"))
    assert refund.status == RefundStatus.PENDING
    assert refund.total == Decimal("24.10")  # 20.00 + 1.60 tax + 2.50 shipping
    assert not feeds_received(account.selling_partner_id)  # nothing before the outbox runs

    deliver_all(merchant)

    refund = fresh(merchant, refund)
    assert refund.status == RefundStatus.SUCCEEDED, refund.failure_message
    assert refund.amazon_sync == AmazonSync.SYNCED
    assert refund.amazon_report["successful"] == 1
    (feed,) = feeds_received(account.selling_partner_id)
    assert (
        feed.feed_type == "POST_PAYMENT_ADJUSTMENT_DATA" and feed.feed_id == refund.amazon_feed_id
    )
    assert f"KLS-{refund.pk}-" in bytes(feed.input_document.content).decode()
    # Amazon's books: the components refunded, and the Finances event for them.
    got = {(r["component"], r["amount"]) for r in amazon_refunds(sandbox, order)}
    assert got == {("Principal", "20.00"), ("Tax", "1.60"), ("Shipping", "2.50")}
    events = gateway(account).financial_events_for_order(order.external_id)
    (event,) = events["RefundEventList"]
    charges = event["ShipmentItemAdjustmentList"][0]["ItemChargeAdjustmentList"]
    assert sum(Decimal(str(c["ChargeAmount"]["CurrencyAmount"])) for c in charges) == Decimal(
        "-24.10"
    )
    order = fresh(merchant, order)
    assert order.financial_status == "partially_refunded"
    with tenant_context(merchant):
        assert OrderEvent.objects.filter(order=order, kind=EventKind.REFUND_SUCCEEDED).count() == 1
    # Our own refund, seen in the Finances events, is ours: not an external one (R6).
    with tenant_context(merchant):
        assert not services.record_external_refunds(order.pk, events).recorded
        assert fresh(merchant, refund).amazon_refund_key


def test_a_feed_still_processing_is_polled_by_retries_and_sent_once(seller, sandbox, settings):
    merchant, account = seller
    settings.KEELSON_FEED_WAIT_SECONDS = 0
    settings.KEELSON_FEED_RETRY_SECONDS = 0  # the next look is due at once (this test's clock)
    sandbox.control.set_settings(feed_queue_seconds=30, feed_processing_seconds=60)
    order = shipped_order(sandbox, account)
    refund = refund_lines(merchant, order)

    deliver_once(merchant)
    refund = fresh(merchant, refund)
    assert refund.status == RefundStatus.PENDING
    assert refund.amazon_sync == AmazonSync.SUBMITTED and refund.amazon_feed_id
    with tenant_context(merchant):
        message = OutboxMessage.objects.get(kind="amazon.refund")
    assert message.status == OutboxStatus.PENDING
    assert message.last_error_code == "feed_processing"
    assert message.next_attempt_at > message.updated_at.replace(microsecond=0)  # rescheduled
    assert message.attempts == 0  # Amazon's pace is not a failed attempt

    for _ in range(10):  # more looks than the message has attempts: never parked for waiting
        deliver_once(merchant)
    with tenant_context(merchant):
        message.refresh_from_db()
    assert (message.status, message.attempts) == (OutboxStatus.PENDING, 0)

    deliver_once(merchant)  # still processing on Amazon's clock: polled, not resent
    assert len(feeds_received(account.selling_partner_id)) == 1
    sandbox.control.advance_clock(minutes=2)
    deliver_all(merchant)

    refund = fresh(merchant, refund)
    assert refund.status == RefundStatus.SUCCEEDED
    assert len(feeds_received(account.selling_partner_id)) == 1


def test_errors_on_the_way_neither_lose_nor_double_the_refund(seller, sandbox):
    merchant, account = seller
    fast_feeds(sandbox)
    order = shipped_order(sandbox, account)
    refund = refund_lines(merchant, order)
    sandbox.control.inject_fault("error_503", count=1, operations=["createFeedDocument"])
    sandbox.control.inject_fault("error_500", count=1, operations=["getFeed"])
    sandbox.control.inject_fault("throttle", count=1, operations=["getFeed"])

    deliver_all(merchant)

    refund = fresh(merchant, refund)
    assert refund.status == RefundStatus.SUCCEEDED, refund.failure_message
    assert len(feeds_received(account.selling_partner_id)) == 1
    assert {r["component"] for r in amazon_refunds(sandbox, order)} == {"Principal", "Tax"}


def test_amazon_refusing_a_refund_fails_it_with_the_reason_and_tells_the_merchant(seller, sandbox):
    """Shipped in Keelson, but Amazon still has the item unshipped (nothing charged): Amazon
    refuses the adjustment, and the refund fails with its reason in plain words."""
    merchant, account = seller
    fast_feeds(sandbox)
    amazon_id = place(sandbox, sandbox.seller, [ITEM])
    (order,) = import_orders(account, amazon_id)
    with tenant_context(merchant):
        Order.objects.filter(pk=order.pk).update(status="Shipped", financial_status="paid")
        order.lines.update(quantity_shipped=2)
    refund = refund_lines(merchant, order)

    deliver_all(merchant)

    refund = fresh(merchant, refund)
    assert refund.status == RefundStatus.FAILED
    assert refund.amazon_sync == AmazonSync.FAILED
    assert refund.failure_code == "amazon_18035"
    assert "has not shipped" in refund.failure_message
    with tenant_context(merchant):
        (note,) = Notification.objects.filter(order=order)
        assert note.title.startswith(f"Order {order.external_id}: refund failed: ")
        failed = OrderEvent.objects.get(order=order, kind=EventKind.REFUND_FAILED)
        assert failed.actor_type == "amazon"
    assert fresh(merchant, order).financial_status == "paid"
    assert amazon_refunds(sandbox, order) == []


def test_refunded_on_amazon_between_sync_and_click_fails_before_sending_R6(seller, sandbox):
    """The race of R6: the order was synced without refunds; the merchant refunds in Seller
    Central and, before the next sync, in Keelson. Right before sending, Amazon's Finances
    events show the other refund: ours fails with already_refunded_on_amazon, nothing is sent,
    the merchant is told, and the external refund is on the timeline."""
    merchant, account = seller
    fast_feeds(sandbox)
    order = shipped_order(sandbox, account)
    refund = refund_lines(merchant, order)  # allowed: Keelson knows of no refund yet
    sandbox.control.refund_in_seller_central(account.selling_partner_id, order.external_id)

    deliver_all(merchant)

    refund = fresh(merchant, refund)
    assert refund.status == RefundStatus.FAILED
    assert refund.failure_code == "already_refunded_on_amazon"
    assert refund.failure_message.startswith("already refunded on Amazon")
    assert feeds_received(account.selling_partner_id) == []
    with tenant_context(merchant):
        titles = list(Notification.objects.filter(order=order).values_list("title", flat=True))
        assert f"Order {order.external_id}: refund failed: already refunded on Amazon" in titles
        (external,) = Refund.objects.filter(order=order, origin="amazon")
        assert external.total == Decimal("48.20")  # everything: 40.00 + 3.20 tax + 5.00
        assert OrderEvent.objects.filter(order=order, kind=EventKind.EXTERNAL_REFUND).exists()
    assert fresh(merchant, order).financial_status == "refunded"
    with pytest.raises(Exception) as caught:
        refund_lines(merchant, order)
    assert caught.value.code == "already_refunded_on_amazon"


def test_refunds_made_in_seller_central_are_found_by_the_sync_check_R6(seller, sandbox):
    merchant, account = seller
    order = shipped_order(sandbox, account)
    (line,) = sandbox.control.order(account.selling_partner_id, order.external_id)["items"]
    sandbox.control.refund_in_seller_central(
        account.selling_partner_id,
        order.external_id,
        items=[{"order_item_id": line["order_item_id"], "components": {"Principal": "7.00"}}],
    )
    # The sync sees the order changed (LastUpdateDate moved) and queues the check.
    import_orders(account, order.external_id)
    assert tasks.check_external_refunds(merchant.pk, [order.pk]) == 1
    assert tasks.check_external_refunds(merchant.pk, [order.pk]) == 0  # idempotent
    with tenant_context(merchant):
        (external,) = Refund.objects.filter(order=order)
        assert (external.origin, external.total) == ("amazon", Decimal("7.00"))
        event = OrderEvent.objects.get(order=order, kind=EventKind.EXTERNAL_REFUND)
        assert "Seller Central" in event.message and event.actor_type == "amazon"
    assert fresh(merchant, order).financial_status == "partially_refunded"


def test_a_jpy_refund_goes_to_amazon_in_whole_yen(make_merchant, sandbox):
    fast_feeds(sandbox)
    seller = sandbox.control.create_seller(name="JP seller", marketplace_ids=["A1VC38T7YXB528"])
    merchant = make_merchant(name="JP merchant", default_currency="JPY")
    account = connect(merchant, seller)
    amazon_id = place(
        sandbox,
        seller,
        [{"quantity": 3, "unit_price": "1980", "seller_sku": "BENTO"}],
        marketplace_id="A1VC38T7YXB528",
    )
    ship(sandbox, account, amazon_id)
    (order,) = import_orders(account, amazon_id)
    assert order.currency == "JPY"
    refund = refund_lines(merchant, order, quantity=1)
    assert refund.total == Decimal("1980")

    deliver_all(merchant)

    refund = fresh(merchant, refund)
    assert refund.status == RefundStatus.SUCCEEDED, refund.failure_message
    (feed,) = feeds_received(seller["selling_partner_id"])
    assert '<Amount currency="JPY">1980</Amount>' in bytes(feed.input_document.content).decode()
    state = sandbox.control.order(seller["selling_partner_id"], amazon_id)
    assert [(r["component"], r["amount"]) for r in state["refunds"]] == [("Principal", "1980")]
