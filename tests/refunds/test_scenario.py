"""End to end with a real qcluster: a merchant refunds in the portal; the outbox worker (another
process) sends the payment-adjustment feed to the SP-API emulator, which processes it; the
refund succeeds, Amazon's Finances events show it, and the order is partially refunded. Then
a full refund of the rest makes it refunded."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client

from orders.models import EventKind, Order, OrderEvent
from refunds.models import Refund
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.models import Role
from tenants.scope import tenant_context
from tests.refunds.amazon import connect, feeds_received, gateway, import_orders, place, ship
from tests.support.processes import qcluster

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT = 120  # seconds; generous for a loaded machine (nothing here measures time)


def wait_for(what: str, check: Callable[[], object], timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def refund_in_portal(client: Client, order: Order, data: dict) -> None:
    form = client.get(f"/refunds/refund/order/{order.pk}/new/").content.decode()
    token = re.search(r'name="token" value="([0-9a-f]+)"', form).group(1)
    response = client.post(f"/refunds/refund/order/{order.pk}/new/", {**data, "token": token})
    assert response.status_code == 302, response.content[:500]


@pytest.mark.slow
def test_refund_in_the_portal_is_processed_by_amazon_through_a_real_qcluster(
    make_merchant, make_user, settings
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        # Amazon takes a few seconds to process a feed (its queue, then the processing).
        sandbox.control.set_settings(feed_queue_seconds=1, feed_processing_seconds=2)
        merchant = make_merchant(name="Scenario merchant")
        account = connect(merchant, sandbox.seller)
        amazon_id = place(
            sandbox,
            sandbox.seller,
            [
                {
                    "quantity": 2,
                    "unit_price": "30.00",
                    "seller_sku": "STOVE",
                    "item_tax": "4.80",
                    "shipping_price": "8.00",
                    "shipping_tax": "0.00",
                }
            ],
        )
        ship(sandbox, account, amazon_id)
        (order,) = import_orders(account, amazon_id)
        assert (order.status, order.financial_status) == ("Shipped", "paid")
        with tenant_context(merchant):
            line = order.lines.get()
        client = Client()
        client.force_login(make_user(Role.MERCHANT_ADMIN, merchant=merchant))

        def refund_done(status: str = "succeeded"):
            with tenant_context(merchant):
                return (
                    Refund.objects.filter(order=order, status__in=[status, "failed"])
                    .order_by("-id")
                    .first()
                )

        # The second refund follows the first within the batch wait, so it waits for
        # companions (docs/amazon-feeds.md): a short wait keeps the scenario short.
        with qcluster(KEELSON_FEED_BATCH_WAIT_SECONDS="5"):
            refund_in_portal(client, order, {f"quantity_{line.pk}": "1", "shipping_amount": "3"})
            refund = wait_for("Amazon to accept the refund", refund_done)
            assert refund.status == "succeeded", refund.failure_message
            assert refund.total == Decimal("35.40")  # 30.00 + 2.40 tax + 3.00 shipping
            with tenant_context(merchant):
                assert Order.objects.get(pk=order.pk).financial_status == "partially_refunded"

            # The rest: the other unit and the rest of the shipping.
            refund_in_portal(client, order, {f"quantity_{line.pk}": "1", "shipping_amount": "5"})

            def second_done():
                with tenant_context(merchant):
                    rows = list(Refund.objects.filter(order=order).order_by("id"))
                return rows if len(rows) == 2 and rows[1].status != "pending" else None

            first, second = wait_for("the second refund", second_done)
            assert second.status == "succeeded", second.failure_message

        with tenant_context(merchant):
            order = Order.objects.get(pk=order.pk)
            assert order.financial_status == "refunded"
            events = OrderEvent.objects.filter(order=order, kind=EventKind.REFUND_SUCCEEDED)
            assert events.count() == 2
            assert not Refund.objects.filter(order=order, origin="amazon").exists()
        assert len(feeds_received(account.selling_partner_id)) == 2
        # Amazon's books agree: two refund events in Finances, together all that was paid.
        finances = gateway(account).financial_events_for_order(amazon_id)
        refund_events = finances["RefundEventList"]
        assert len(refund_events) == 2
        charged = sum(
            Decimal(str(charge["ChargeAmount"]["CurrencyAmount"]))
            for event in refund_events
            for item in event["ShipmentItemAdjustmentList"]
            for charge in item["ItemChargeAdjustmentList"]
        )
        assert -charged == first.total + second.total == Decimal("72.80")
