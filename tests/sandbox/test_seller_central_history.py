"""What a seller did in Seller Central before Keelson (the demo's history): shipments confirmed
there, one order or all the older ones at once, and refunds dated when they were made. Each is
recorded as happening at its own time, so a sync sees it like any past change."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sp_api.api import Orders

from sandbox.amazon.control import SandboxControlError

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_shipping_in_seller_central_happens_on_its_ship_date(amazon_sandbox):
    control, seller = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    now = when(control.now())
    placed = (now - timedelta(days=5)).isoformat()
    order = control.place_order(seller, purchase_date=placed, items=[{"quantity": 2}])
    shipped_on = now - timedelta(days=4)

    state = control.ship_in_seller_central(
        seller, order["amazon_order_id"], carrier="UPS", ship_date=shipped_on.isoformat()
    )

    assert state["status"] == "Shipped"
    assert state["items"][0]["quantity_shipped"] == 2
    assert when(state["last_update_date"]) == shipped_on.replace(microsecond=0)
    # The real client sees it as Amazon reports any shipment.
    read = Orders(**amazon_sandbox.client_kwargs()).get_order(order["amazon_order_id"]).payload
    assert read["OrderStatus"] == "Shipped"

    with pytest.raises(SandboxControlError) as again:
        control.ship_in_seller_central(seller, order["amazon_order_id"])
    assert again.value.status == 409  # nothing left open


def test_pending_orders_and_future_dates_are_refused(amazon_sandbox):
    control, seller = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    pending = control.place_order(seller, items=[{"quantity": 1}])
    with pytest.raises(SandboxControlError) as refused:
        control.ship_in_seller_central(seller, pending["amazon_order_id"])
    assert refused.value.status == 409

    now = when(control.now())
    placed = (now - timedelta(days=2)).isoformat()
    order = control.place_order(seller, purchase_date=placed, items=[{"quantity": 1}])
    with pytest.raises(SandboxControlError) as future:
        control.ship_in_seller_central(
            seller, order["amazon_order_id"], ship_date=(now + timedelta(days=1)).isoformat()
        )
    assert future.value.status == 400


def test_the_older_orders_are_shipped_at_once_and_a_buyers_request_is_left_alone(
    amazon_sandbox,
):
    control, seller = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    now = when(control.now())

    def place(days_ago: float, **fields) -> str:
        purchase = (now - timedelta(days=days_ago)).isoformat()
        return control.place_order(seller, purchase_date=purchase, **fields)["amazon_order_id"]

    old, older = place(6), place(9)
    asked = place(7, buyer_cancel_after_minutes=60)
    recent = place(1)
    fba = place(8, fulfillment_channel="AFN")

    shipped = control.ship_older_in_seller_central(
        seller, (now - timedelta(days=3)).isoformat(), carrier="DHL"
    )

    assert shipped == [older, old]  # oldest first
    for amazon_order_id, status in [
        (old, "Shipped"),
        (older, "Shipped"),
        (asked, "Unshipped"),
        (recent, "Unshipped"),
        (fba, "Shipped"),  # Amazon shipped it itself
    ]:
        assert control.order(seller, amazon_order_id)["status"] == status, amazon_order_id
    first = control.order(seller, older)["packages"][0]
    assert when(first["ship_date"]) == (now - timedelta(days=8)).replace(microsecond=0)


def test_a_seller_central_refund_keeps_its_posted_date(amazon_sandbox):
    control, seller = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    now = when(control.now())
    placed = (now - timedelta(days=6)).isoformat()
    order = control.place_order(seller, purchase_date=placed, items=[{"quantity": 1}])
    control.ship_in_seller_central(
        seller, order["amazon_order_id"], ship_date=(now - timedelta(days=5)).isoformat()
    )
    refunded_on = (now - timedelta(days=1)).replace(microsecond=0)

    result = control.refund_in_seller_central(
        seller, order["amazon_order_id"], posted_date=refunded_on.isoformat()
    )

    assert {when(r["posted_date"]) for r in result["order"]["refunds"]} == {refunded_on}
    with pytest.raises(SandboxControlError) as future:
        control.refund_in_seller_central(
            seller, order["amazon_order_id"], posted_date=(now + timedelta(hours=1)).isoformat()
        )
    assert future.value.status == 400
