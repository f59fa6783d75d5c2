"""Shipment confirmation to Amazon through the outbox (R3, A7), against the SP-API emulator
with the real python-amazon-sp-api client: every package is confirmed with the same ship date,
carrier and tracking; 5xx, 429 and a killed worker neither lose nor double a confirmation."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from fulfillment import selectors, services
from fulfillment.models import Fulfillment
from fulfillment.services import ShipmentInput
from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.models import EventKind, Order, OrderEvent
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.scope import tenant_context
from tests.fulfillment.amazon import connect, emulated, import_orders, place, ship_dates
from tests.support.processes import qcluster

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(transactional_db):
    with running_amazon_sandbox(rate_limits=False) as running:
        yield running


@pytest.fixture
def seller(make_merchant, sandbox):
    merchant = make_merchant(name="Emulated merchant")
    return merchant, connect(merchant, sandbox)


def deliver_all(merchant, rounds: int = 20) -> None:
    """Deliver every due message, making backed-off ones due at once (the test's clock)."""
    with tenant_context(merchant):
        for _ in range(rounds):
            outbox.deliver_due()
            pending = OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
            if not pending.exists():
                return
            pending.update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def merchant_actor():
    return services.Actor(services.Side.MERCHANT, "Test merchant", "user")


def fulfil(merchant, order, lines=None, tracking="1Z0001", ship_date=None) -> Fulfillment:
    with tenant_context(merchant):
        return services.fulfil_order(
            order.pk,
            actor=merchant_actor(),
            lines=lines,
            shipment=ShipmentInput(tracking_number=tracking, carrier="UPS", ship_date=ship_date),
        )


def line_ids(merchant, order) -> list[int]:
    with tenant_context(merchant):
        return list(order.lines.order_by("id").values_list("id", flat=True))


def test_each_package_is_confirmed_with_the_same_ship_date_R3(seller, sandbox):
    merchant, account = seller
    amazon_id = place(sandbox, [{"quantity": 2, "seller_sku": "SKU-1"}])
    (order,) = import_orders(account, amazon_id)
    assert order.status == "Unshipped"
    (line,) = line_ids(merchant, order)
    first_date = timezone.now().replace(microsecond=0) - timedelta(minutes=20)

    first = fulfil(merchant, order, [(line, 1)], "1Z0001", first_date)
    deliver_all(merchant)

    state = emulated(sandbox, amazon_id)
    assert state["status"] == "PartiallyShipped"
    assert ship_dates(state) == [first_date]
    assert state["packages"][0]["package_reference_id"] == first.package_reference
    assert state["packages"][0]["tracking_number"] == "1Z0001"
    assert state["packages"][0]["carrier_code"] == "UPS"

    second = fulfil(merchant, order, None, "1Z0002")
    deliver_all(merchant)

    state = emulated(sandbox, amazon_id)
    assert state["status"] == "Shipped"
    with tenant_context(merchant):
        second.refresh_from_db()
        assert ship_dates(state) == sorted([first_date, second.ship_date])
        assert {f.amazon_confirmation for f in Fulfillment.objects.filter(order=order)} == {
            "confirmed"
        }
        order = Order.objects.get(pk=order.pk)
        assert order.fulfillment_status == "fulfilled"
        assert order.shipment_confirmation == "confirmed"
        assert order.confirm_by is None  # A8: nothing left to confirm
        confirmed = OrderEvent.objects.filter(order=order, kind=EventKind.SHIPMENT_CONFIRMED)
        assert confirmed.count() == 2
        assert all(e.actor_type == "amazon" for e in confirmed)


def test_5xx_and_429_are_retried_without_losing_or_doubling_a_confirmation(seller, sandbox):
    merchant, account = seller
    amazon_id = place(sandbox, [{"quantity": 1, "seller_sku": "SKU-1"}])
    (order,) = import_orders(account, amazon_id)
    sandbox.control.inject_fault("error_503", count=2, operations=["confirmShipment"])
    sandbox.control.inject_fault("throttle", count=2, operations=["confirmShipment"])
    sandbox.control.inject_fault("error_500", count=1, operations=["confirmShipment"])

    fulfil(merchant, order)
    deliver_all(merchant)

    with tenant_context(merchant):
        message = OutboxMessage.objects.get(kind="amazon.confirm_shipment")
    assert message.status == OutboxStatus.SENT
    # Three refusals, then the confirmation: the two 429s ask us to slow down and use up no
    # attempt (ThrottledDeliveryError).
    assert message.attempts == 4
    state = emulated(sandbox, amazon_id)
    assert state["status"] == "Shipped" and len(state["packages"]) == 1

    # At-least-once: the same message delivered again is the same package, not another.
    with tenant_context(merchant):
        OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxStatus.PENDING)
    deliver_all(merchant)
    assert len(emulated(sandbox, amazon_id)["packages"]) == 1


def test_a_failed_confirmation_shows_and_the_bulk_action_sends_it_again_A7(seller, sandbox):
    merchant, account = seller
    ids = [place(sandbox, [{"quantity": 1, "seller_sku": f"SKU-{i}"}]) for i in range(3)]
    orders = import_orders(account, *ids)
    fulfil(merchant, orders[0])
    with tenant_context(merchant):
        OutboxMessage.objects.update(max_attempts=1)  # give up at the first refusal
    sandbox.control.inject_fault("error_503", count=1, operations=["confirmShipment"])
    deliver_all(merchant)

    with tenant_context(merchant):
        assert Fulfillment.objects.get(order=orders[0]).amazon_confirmation == "failed"
        failed = OrderEvent.objects.filter(order=orders[0], kind=EventKind.OUTBOX).last()
        assert "Amazon did not confirm" in failed.message
        order_ids = [o.pk for o in orders]
        assert selectors.confirmation_progress(order_ids) == {
            "pending": 0,
            "confirmed": 0,
            "failed": 1,
        }
        result = services.confirm_shipments(
            order_ids,
            actor=merchant_actor(),
            shipment=ShipmentInput(tracking_number="1ZBULK", carrier="FedEx"),
        )
    assert (result.retried, result.queued, result.skipped) == (1, 2, {})
    deliver_all(merchant)

    with tenant_context(merchant):
        assert selectors.confirmation_progress(order_ids) == {
            "pending": 0,
            "confirmed": 3,
            "failed": 0,
        }
    assert [emulated(sandbox, i)["status"] for i in ids] == ["Shipped"] * 3
    with tenant_context(merchant):
        again = services.confirm_shipments(order_ids, actor=merchant_actor())
    assert (again.already, again.queued, again.retried) == (3, 0, 0)


@pytest.mark.integration
def test_a_worker_killed_after_amazon_applied_the_confirmation_does_not_double_it(seller, sandbox):
    merchant, account = seller
    amazon_id = place(sandbox, [{"quantity": 1, "seller_sku": "SKU-1"}])
    (order,) = import_orders(account, amazon_id)
    sandbox.control.inject_fault(
        "latency", latency_ms=8000, count=1, operations=["confirmShipment"]
    )
    with qcluster() as cluster:
        fulfil(merchant, order)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            hits = [f["hits"] for f in sandbox.control.faults()["faults"]]
            if any(hits):
                break
            time.sleep(0.1)
        assert any(hits), "the worker never called confirmShipment"
        os.killpg(cluster.pid, signal.SIGKILL)  # before it could record Amazon's answer
        cluster.wait(10)
    # Amazon (the emulator) still applies the confirmation once its delay is over.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not emulated(sandbox, amazon_id)["packages"]:
        time.sleep(0.2)
    assert emulated(sandbox, amazon_id)["status"] == "Shipped"
    with tenant_context(merchant):
        message = OutboxMessage.objects.get(kind="amazon.confirm_shipment")
        assert message.status == OutboxStatus.PENDING and message.attempts == 1
        # The dead worker's lease expires; the message is delivered again, same package.
        OutboxMessage.objects.filter(pk=message.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
    deliver_all(merchant)
    with tenant_context(merchant):
        message.refresh_from_db()
        assert message.status == OutboxStatus.SENT and message.attempts == 2
        assert Fulfillment.objects.get(order=order).amazon_confirmation == "confirmed"
    assert len(emulated(sandbox, amazon_id)["packages"]) == 1
