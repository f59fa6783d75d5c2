"""Cancelling orders (R7, A4, A5, B4): the cancellation and the refund it implies are recorded
together; Amazon gets the order-acknowledgement feed with the cancel reason; a fully cancelled
order is closed once Amazon accepts; a buyer's request is cancelled with the buyer-cancel reason
(or declined with a reason), end to end through the emulator's feeds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from foundation.api.errors import DomainError
from notifications.models import Notification
from orders.models import EventKind, Order, OrderEvent
from refunds import selectors, services
from refunds.models import BuyerCancelResolution, Refund, RefundStatus
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.scope import tenant_context
from tests.refunds.amazon import (
    connect,
    deliver_all,
    fast_feeds,
    feeds_received,
    import_orders,
    place,
    ship,
)
from tests.refunds.conftest import ACTOR


def refused(code: str, fn, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    assert caught.value.code == code, (caught.value.code, caught.value.message)
    return caught.value


# --- the rules, without Amazon ---------------------------------------------------------------


@pytest.mark.django_db
def test_cancel_without_refund_is_refused_R7(shop):
    order = shop.order([("X", 2, "30.00", 0)], status="Unshipped")
    error = refused("refund_amount_required", shop.cancel, order, reason="NoInventory")
    assert error.status == 422 and "R7" in error.message and "30.00 USD" in error.message
    refused("refund_amount_required", shop.cancel, order, refund="0")
    refused("refund_exceeds_balance", shop.cancel, order, refund="30.01")
    refused("invalid_amount", shop.cancel, order, refund="0.001")
    refused("validation_error", shop.cancel, order, reason="Because", refund="1")
    with tenant_context(shop.merchant):
        assert not Refund.objects.exists()


@pytest.mark.django_db
def test_a_cancellation_records_its_refund_in_the_same_transaction(shop):
    order = shop.order(
        [("A", 2, "30.00", 0, {"shipping_price": "4.00"}), ("B", 1, "10.00", 0)],
        status="Unshipped",
    )
    cancellation = shop.cancel(order, reason="NoInventory", refund="44.00")
    assert cancellation.kind == "cancellation" and cancellation.full_cancellation
    assert cancellation.status == RefundStatus.PENDING
    assert (cancellation.items_amount, cancellation.shipping_amount) == (
        Decimal("40.00"),
        Decimal("4.00"),
    )
    lines = shop.run(lambda: [(rl.quantity, rl.amount) for rl in cancellation.lines.all()])
    assert lines == [(2, Decimal("30.00")), (1, Decimal("10.00"))]
    with tenant_context(shop.merchant):
        event = OrderEvent.objects.get(order=order, kind=EventKind.REFUND_CREATED)
        assert "NoInventory" in event.message and "44.00 USD" in event.message
    # The order stays open until Amazon accepts the cancellation.
    assert shop.fresh(order).status == "Unshipped"
    refused("invalid_transition", shop.cancel, order, refund="1.00")


@pytest.mark.django_db
def test_a_partial_refund_with_a_cancellation_is_spread_over_its_items(shop):
    order = shop.order(
        [("A", 1, "30.00", 0, {"shipping_price": "6.00"}), ("B", 1, "10.00", 0)],
        status="Unshipped",
    )
    (a, b) = shop.lines(order)
    cancellation = shop.cancel(order, refund="23.00", lines=[a.pk])
    assert not cancellation.full_cancellation
    (rl,) = shop.run(lambda: list(cancellation.lines.all()))
    assert rl.order_line_id == a.pk and rl.quantity == 1
    assert (rl.amount, rl.shipping_amount) == (Decimal("19.17"), Decimal("3.83"))
    # B is still open and can be cancelled too (once the first cancellation is through).
    shop.run(services.refund_succeeded, cancellation.pk, {})
    second = shop.cancel(order, refund="10.00", lines=[b.pk])
    assert second.full_cancellation
    refused("invalid_transition", shop.cancel, order, refund="1.00", lines=[a.pk])


@pytest.mark.django_db
def test_an_address_change_is_a_cancellation_for_the_buyer_to_reorder_A5(shop):
    order = shop.order([("X", 1, "30.00", 0)], status="Unshipped")
    cancellation = shop.cancel(order, reason="address_change", refund="30.00")
    assert cancellation.cancel_reason == "ShippingAddressUndeliverable"
    assert cancellation.requested_reason == "address_change"
    with tenant_context(shop.merchant):
        event = OrderEvent.objects.get(order=order, kind=EventKind.REFUND_CREATED)
    assert "A5" in event.message and "re-order" in event.message


@pytest.mark.django_db
def test_inventory_cancellations_are_counted_for_the_dashboard_A4(shop):
    for reason in ("NoInventory", "NoInventory", "GeneralAdjustment"):
        order = shop.order([("X", 1, "10.00", 0)], status="Unshipped")
        shop.cancel(order, reason=reason, refund="10.00")
    since = timezone.now() - timedelta(days=7)
    assert shop.run(selectors.inventory_cancellations, since) == 2


@pytest.mark.django_db
def test_the_merchant_may_decline_a_buyers_request_and_ship_anyway_B4(shop):
    order = shop.order(
        [("X", 1, "10.00", 0)],
        status="Unshipped",
        buyer_cancel_requested=True,
        buyer_cancel_reason="Ordered by mistake",
        buyer_cancel_requested_at=timezone.now(),
    )
    refused(
        "validation_error",
        shop.run,
        services.decline_buyer_cancellation,
        order.pk,
        actor=ACTOR,
        reason=" ",
    )
    resolution = shop.run(
        services.decline_buyer_cancellation, order.pk, actor=ACTOR, reason="Already packed"
    )
    assert resolution.outcome == "declined"
    assert shop.run(selectors.buyer_cancel_resolution, shop.fresh(order)) == resolution
    refused(
        "invalid_transition",
        shop.run,
        services.decline_buyer_cancellation,
        order.pk,
        actor=ACTOR,
        reason="again",
    )
    with tenant_context(shop.merchant):
        note = OrderEvent.objects.get(order=order, kind=EventKind.NOTE)
    assert "declined" in note.message and "Already packed" in note.message


# --- through Amazon's feeds ------------------------------------------------------------------


@pytest.fixture
def sandbox(transactional_db):
    with running_amazon_sandbox(rate_limits=False) as running:
        fast_feeds(running)
        yield running


@pytest.fixture
def seller(make_merchant, sandbox):
    merchant = make_merchant(name="Emulated merchant")
    return merchant, connect(merchant, sandbox.seller)


def cancel(merchant, order, **kwargs) -> Refund:
    with tenant_context(merchant):
        return services.cancel_order(order.pk, actor=kwargs.pop("actor", ACTOR), **kwargs)


def emulated(sandbox, order) -> dict:
    return sandbox.control.order(sandbox.seller["selling_partner_id"], order.external_id)


@pytest.mark.django_db(transaction=True)
def test_a_cancellation_goes_to_amazon_and_closes_the_order(seller, sandbox):
    merchant, account = seller
    amazon_id = place(
        sandbox,
        sandbox.seller,
        [{"quantity": 2, "unit_price": "15.00", "seller_sku": "MUG", "item_tax": "2.40"}],
    )
    (order,) = import_orders(account, amazon_id)
    assert order.status == "Unshipped" and order.confirm_by is not None
    cancellation = cancel(merchant, order, reason="NoInventory", refund=Decimal("32.40"))

    deliver_all(merchant)

    with tenant_context(merchant):
        cancellation.refresh_from_db()
        order = Order.objects.get(pk=order.pk)
    assert cancellation.status == RefundStatus.SUCCEEDED, cancellation.failure_message
    assert order.status == "Canceled"
    assert (order.ship_by, order.confirm_by, order.warn_at) == (None, None, None)
    assert order.financial_status == "refunded"
    state = emulated(sandbox, order)
    assert (state["status"], state["canceled_by"], state["cancel_reason"]) == (
        "Canceled",
        "MERCHANT",
        "NoInventory",
    )
    (feed,) = feeds_received(account.selling_partner_id)
    assert feed.feed_type == "POST_ORDER_ACKNOWLEDGEMENT_DATA"
    with tenant_context(merchant):
        assert OrderEvent.objects.filter(order=order, kind=EventKind.ORDER_CANCELLED).exists()
    # The next sync agrees: Amazon says Canceled too, and nothing is sent again.
    import_orders(account, amazon_id)
    deliver_all(merchant)
    assert len(feeds_received(account.selling_partner_id)) == 1


@pytest.mark.django_db(transaction=True)
def test_amazon_refusing_a_cancellation_fails_it_and_keeps_the_order_open(seller, sandbox):
    """Shipped on Amazon already (Keelson did not know yet): Amazon refuses to cancel."""
    merchant, account = seller
    amazon_id = place(sandbox, sandbox.seller, [{"quantity": 1, "seller_sku": "MUG"}])
    (order,) = import_orders(account, amazon_id)
    ship(sandbox, account, amazon_id)
    cancellation = cancel(merchant, order, reason="GeneralAdjustment", refund=Decimal("1.00"))

    deliver_all(merchant)

    with tenant_context(merchant):
        cancellation.refresh_from_db()
        order = Order.objects.get(pk=order.pk)
        (note,) = Notification.objects.filter(order=order)
    assert cancellation.status == RefundStatus.FAILED
    assert cancellation.failure_code == "amazon_18031"
    assert "already shipped" in cancellation.failure_message
    assert note.title.startswith(f"Order {order.external_id}: cancellation failed: ")
    assert order.status == "Unshipped" and order.financial_status == "paid"


@pytest.mark.django_db(transaction=True)
def test_cancel_as_requested_by_the_buyer_end_to_end_B4(seller, sandbox, make_api_key, call):
    merchant, account = seller
    amazon_id = place(
        sandbox,
        sandbox.seller,
        [
            {"quantity": 1, "unit_price": "25.00", "seller_sku": "TENT", "item_tax": "2.00"},
            {"quantity": 2, "unit_price": "5.00", "seller_sku": "PEG"},
        ],
    )
    (order,) = import_orders(account, amazon_id)
    sandbox.control.request_buyer_cancellation(
        account.selling_partner_id, amazon_id, reason="Found a better price"
    )
    (order,) = import_orders(account, amazon_id)
    assert order.buyer_cancel_requested
    with tenant_context(merchant):
        # B5: the merchant was told, and the order offers "Cancel as requested by buyer".
        assert Notification.objects.filter(order=order, kind="buyer_cancel_requested").exists()
        money = selectors.order_money(order)
    full = money.balance

    key = make_api_key(merchant=merchant)
    response = call(
        "post",
        f"/api/v1/orders/{order.pk}/cancel/",
        key=key,
        data={"reason": "buyer_requested", "note": "As asked"},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["buyer_requested"] and body["cancel_reason"] == "BuyerCanceled"
    assert Decimal(body["total"]) == full  # pre-filled: the full refund
    with tenant_context(merchant):
        order = Order.objects.get(pk=order.pk)
        assert selectors.buyer_cancel_resolution(order).outcome == "cancelled"  # banner resolved

    deliver_all(merchant)

    with tenant_context(merchant):
        cancellation = Refund.objects.get(pk=body["id"])
        order = Order.objects.get(pk=order.pk)
    assert cancellation.status == RefundStatus.SUCCEEDED, cancellation.failure_message
    assert order.status == "Canceled" and order.financial_status == "refunded"
    state = emulated(sandbox, order)
    assert (state["status"], state["cancel_reason"]) == ("Canceled", "BuyerCanceled")
    (feed,) = feeds_received(account.selling_partner_id)
    content = bytes(feed.input_document.content).decode()
    assert content.count("<CancelReason>BuyerCanceled</CancelReason>") == 2
    with tenant_context(merchant):
        assert BuyerCancelResolution.objects.filter(order=order, outcome="cancelled").count() == 1
