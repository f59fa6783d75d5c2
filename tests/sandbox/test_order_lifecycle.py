"""The life of an order, driven by the emulator's clock (rules A1, A2, A8, B1-B3, R5), seen
through the real client; every change moves LastUpdateDate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sp_api.api import Orders

from sandbox.amazon.clock import isoformat, parse_iso
from sandbox.amazon.control import SandboxControlError

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def at(order: dict, **delta) -> str:
    return isoformat(parse_iso(order["purchase_date"]) + timedelta(**delta))


def test_a_new_order_is_pending_for_30_minutes_then_unshipped(amazon_sandbox):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    client = Orders(**amazon_sandbox.client_kwargs())
    placed = control.place_order(sid, items=[{"quantity": 2, "unit_price": "12.50"}])
    order_id = placed["amazon_order_id"]

    pending = client.get_order(order_id).payload
    assert pending["OrderStatus"] == "Pending"
    assert "OrderTotal" not in pending  # Amazon shows no total while payment is pending
    assert pending["LastUpdateDate"] == pending["PurchaseDate"]
    item = client.get_order_items(order_id).payload["OrderItems"][0]
    assert "ItemPrice" not in item and item["QuantityOrdered"] == 2

    # The emulator's clock runs on from where it is set: a minute before the end of the hold,
    # not a second (a loaded machine took longer than that to answer).
    control.set_clock(at(placed, minutes=29))
    assert client.get_order(order_id).payload["OrderStatus"] == "Pending"
    control.set_clock(at(placed, minutes=30))
    unshipped = client.get_order(order_id).payload
    assert unshipped["OrderStatus"] == "Unshipped"
    assert unshipped["LastUpdateDate"] == at(placed, minutes=30)
    assert unshipped["OrderTotal"]["Amount"] == "26.81"  # 25.00 + 7.25 % sales tax
    assert unshipped["NumberOfItemsUnshipped"] == 2
    item = client.get_order_items(order_id).payload["OrderItems"][0]
    assert item["ItemPrice"] == {"CurrencyCode": "USD", "Amount": "25.00"}


def test_verification_can_keep_an_order_pending_for_days_then_it_ships_or_is_cancelled(
    amazon_sandbox,
):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    client = Orders(**amazon_sandbox.client_kwargs())
    slow = control.place_order(sid, pending_minutes=3 * 24 * 60)
    declined = control.place_order(sid, pending_minutes=2 * 24 * 60, pending_outcome="Canceled")

    control.advance_clock(days=1)
    assert client.get_order(slow["amazon_order_id"]).payload["OrderStatus"] == "Pending"
    assert client.get_order(declined["amazon_order_id"]).payload["OrderStatus"] == "Pending"
    control.advance_clock(days=2)
    released = client.get_order(slow["amazon_order_id"]).payload
    assert released["OrderStatus"] == "Unshipped"
    assert released["LastUpdateDate"] == at(slow, days=3)
    cancelled = client.get_order(declined["amazon_order_id"]).payload
    assert cancelled["OrderStatus"] == "Canceled" and "OrderTotal" not in cancelled
    assert cancelled["LastUpdateDate"] == at(declined, days=2)
    state = control.order(sid, declined["amazon_order_id"])
    assert state["canceled_by"] == "AMAZON"


def test_amazon_cancels_an_unconfirmed_order_after_30_days(amazon_sandbox):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    client = Orders(**amazon_sandbox.client_kwargs())
    idle = control.place_order(sid)
    half = control.place_order(sid, items=[{"quantity": 1}, {"quantity": 1}])
    control.advance_clock(minutes=31)
    first_item = half["items"][0]["order_item_id"]
    client.confirm_shipment(
        half["amazon_order_id"],
        marketplaceId="ATVPDKIKX0DER",
        packageDetail={
            "packageReferenceId": "P1",
            "carrierCode": "UPS",
            "trackingNumber": "1Z1",
            "shipDate": control.now(),
            "orderItems": [{"orderItemId": first_item, "quantity": 1}],
        },
    )
    assert client.get_order(half["amazon_order_id"]).payload["OrderStatus"] == "PartiallyShipped"

    control.set_clock(at(idle, days=29, hours=23))
    assert client.get_order(idle["amazon_order_id"]).payload["OrderStatus"] == "Unshipped"
    control.set_clock(at(half, days=30, minutes=1))
    gone = client.get_order(idle["amazon_order_id"]).payload
    assert gone["OrderStatus"] == "Canceled"
    assert gone["LastUpdateDate"] == at(idle, days=30)
    assert control.order(sid, idle["amazon_order_id"])["canceled_by"] == "AMAZON"
    # A partly shipped order keeps what shipped; the rest is cancelled: it is Shipped.
    rest = client.get_order(half["amazon_order_id"]).payload
    assert (rest["OrderStatus"], rest["NumberOfItemsShipped"], rest["NumberOfItemsUnshipped"]) == (
        "Shipped",
        1,
        0,
    )


def test_amazon_fulfilled_orders_are_shipped_by_amazon_and_cannot_be_confirmed(amazon_sandbox):
    from sp_api.base.exceptions import SellingApiBadRequestException

    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    client = Orders(**amazon_sandbox.client_kwargs())
    afn = control.place_order(sid, fulfillment_channel="AFN", afn_ship_after_minutes=120)
    control.advance_clock(minutes=31)
    order = client.get_order(afn["amazon_order_id"]).payload
    assert (order["FulfillmentChannel"], order["OrderStatus"], order["IsPrime"]) == (
        "AFN",
        "Unshipped",
        True,
    )
    with pytest.raises(SellingApiBadRequestException):
        client.confirm_shipment(
            afn["amazon_order_id"],
            marketplaceId="ATVPDKIKX0DER",
            packageDetail={
                "packageReferenceId": "1",
                "carrierCode": "UPS",
                "trackingNumber": "1",
                "shipDate": control.now(),
                "orderItems": [{"orderItemId": afn["items"][0]["order_item_id"], "quantity": 1}],
            },
        )
    control.advance_clock(minutes=120)
    shipped = client.get_order(afn["amazon_order_id"]).payload
    assert shipped["OrderStatus"] == "Shipped"
    assert shipped["LastUpdateDate"] == at(afn, minutes=150)
    assert control.order(sid, afn["amazon_order_id"])["packages"][0]["shipped_by"] == "AMAZON"


def test_polling_by_last_update_sees_every_change_exactly_when_it_happened(amazon_sandbox):
    """A sync that follows LastUpdatedAfter with the LastUpdatedBefore Amazon returns never
    misses a change, even when the clock jumps over several."""
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    client = Orders(**amazon_sandbox.client_kwargs())
    cursor = isoformat(parse_iso(control.now()) - timedelta(minutes=5))
    order = control.place_order(sid, buyer_cancel_after_minutes=60)
    order_id = order["amazon_order_id"]
    seen: list[tuple[str, str]] = []

    def poll() -> None:
        nonlocal cursor
        page = client.get_orders(LastUpdatedAfter=cursor).payload
        seen.extend((o["OrderStatus"], o["LastUpdateDate"]) for o in page["Orders"])
        cursor = page["LastUpdatedBefore"]

    control.advance_clock(minutes=3)
    poll()
    control.advance_clock(hours=2)  # leaves Pending (30 min), buyer asks to cancel (90 min)
    poll()
    items = client.get_order_items(order_id).payload["OrderItems"]
    assert items[0]["BuyerRequestedCancel"] == {
        "IsBuyerRequestedCancel": "true",
        "BuyerCancelReason": "No longer needed.",
    }
    assert seen == [("Pending", order["purchase_date"]), ("Unshipped", at(order, minutes=90))]
    with pytest.raises(SandboxControlError) as already:
        control.request_buyer_cancellation(sid, order_id, "Changed my mind")
    assert already.value.status == 409  # every open item is flagged already
    poll()
    assert len(seen) == 2  # nothing changed, nothing new to see
