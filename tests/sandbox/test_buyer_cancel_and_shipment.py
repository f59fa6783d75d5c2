"""Buyer cancellation requests (B1-B3) and shipment confirmation (A6, A7), through the real
client: partial shipments, idempotent packages, and the checks Amazon makes."""

from __future__ import annotations

import pytest
from sp_api.api import Orders
from sp_api.base.exceptions import SellingApiBadRequestException, SellingApiNotFoundException

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def package(control, reference: str, lines: list[tuple[str, int]], **extra) -> dict:
    return {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": reference,
            "carrierCode": "UPS",
            "carrierName": "UPS",
            "shippingMethod": "Ground",
            "trackingNumber": f"1Z{reference}",
            "shipDate": control.now(),
            "orderItems": [{"orderItemId": i, "quantity": q} for i, q in lines],
            **extra,
        },
    }


def test_a_buyer_cancellation_request_flags_the_items_for_the_seller(amazon_sandbox):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    client = Orders(**amazon_sandbox.client_kwargs())
    placed = control.place_order(sid, items=[{"quantity": 1}, {"quantity": 3}])
    order_id = placed["amazon_order_id"]
    control.advance_clock(minutes=31)
    before = client.get_order(order_id).payload["LastUpdateDate"]
    control.advance_clock(minutes=5)
    control.request_buyer_cancellation(sid, order_id, "Found cheaper somewhere else.")

    items = client.get_order_items(order_id).payload["OrderItems"]
    assert {i["OrderItemId"]: i["BuyerRequestedCancel"] for i in items} == {
        i["order_item_id"]: {
            "IsBuyerRequestedCancel": "true",
            "BuyerCancelReason": "Found cheaper somewhere else.",
        }
        for i in placed["items"]
    }
    order = client.get_order(order_id).payload
    assert order["OrderStatus"] == "Unshipped"  # the seller decides (B4): cancel or ship
    assert order["LastUpdateDate"] > before
    new_api = Orders(**amazon_sandbox.client_kwargs(), version="2026-01-01")
    detail = new_api.get_order(order_id, includedData=["CANCELLATION"]).payload["order"]
    assert detail["orderItems"][0]["cancellation"]["cancellationRequest"] == {
        "requester": "BUYER",
        "cancelReason": "Found cheaper somewhere else.",
    }


def test_a_buyer_cancels_a_pending_order_outright(amazon_sandbox):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    placed = control.place_order(sid)
    state = control.request_buyer_cancellation(sid, placed["amazon_order_id"], "Ordered by mistake")
    assert (state["status"], state["canceled_by"]) == ("Canceled", "BUYER")
    control.advance_clock(minutes=31)  # the 30-minute mark no longer matters
    order = Orders(**amazon_sandbox.client_kwargs()).get_order(placed["amazon_order_id"])
    assert order.payload["OrderStatus"] == "Canceled"


def test_shipping_in_two_packages_goes_partially_shipped_then_shipped(amazon_sandbox_unlimited):
    # Eleven confirmShipment calls: more than its burst of 10, so limits off (rate limits have
    # their own tests).
    sandbox = amazon_sandbox_unlimited
    control, sid = sandbox.control, sandbox.seller["selling_partner_id"]
    client = Orders(**sandbox.client_kwargs())
    placed = control.place_order(sid, items=[{"quantity": 2}, {"quantity": 1}])
    order_id = placed["amazon_order_id"]
    a, b = (i["order_item_id"] for i in placed["items"])

    with pytest.raises(SellingApiBadRequestException, match="Pending"):
        client.confirm_shipment(order_id, **package(control, "P1", [(a, 1)]))
    control.advance_clock(minutes=31)

    first_package = package(control, "P1", [(a, 1)])
    client.confirm_shipment(order_id, **first_package)
    first = client.get_order(order_id).payload
    assert (
        first["OrderStatus"],
        first["NumberOfItemsShipped"],
        first["NumberOfItemsUnshipped"],
    ) == (
        "PartiallyShipped",
        1,
        2,
    )
    # The same package again changes nothing (a retry is safe) ...
    control.advance_clock(minutes=1)
    client.confirm_shipment(order_id, **first_package)
    assert client.get_order(order_id).payload["LastUpdateDate"] == first["LastUpdateDate"]
    # ... but the same reference with other items is refused.
    with pytest.raises(SellingApiBadRequestException, match="different items"):
        client.confirm_shipment(order_id, **package(control, "P1", [(b, 1)]))
    with pytest.raises(SellingApiBadRequestException, match="exceeds the unshipped"):
        client.confirm_shipment(order_id, **package(control, "P2", [(a, 2)]))
    with pytest.raises(SellingApiBadRequestException, match="not found"):
        client.confirm_shipment(order_id, **package(control, "P2", [("99999999999999", 1)]))
    wrong_market = package(control, "P2", [(a, 1)])
    wrong_market["marketplaceId"] = "A2EUQ1WTGCTBG2"
    with pytest.raises(SellingApiBadRequestException, match="marketplace"):
        client.confirm_shipment(order_id, **wrong_market)
    with pytest.raises(SellingApiBadRequestException, match="PurchaseDate"):
        client.confirm_shipment(
            order_id, **package(control, "P2", [(a, 1)], shipDate="2001-01-01T00:00:00Z")
        )

    client.confirm_shipment(order_id, **package(control, "P2", [(a, 1), (b, 1)]))
    done = client.get_order(order_id).payload
    assert (done["OrderStatus"], done["NumberOfItemsShipped"], done["NumberOfItemsUnshipped"]) == (
        "Shipped",
        3,
        0,
    )
    assert done["LastUpdateDate"] > first["LastUpdateDate"]
    items = {
        i["OrderItemId"]: i["QuantityShipped"]
        for i in client.get_order_items(order_id).payload["OrderItems"]
    }
    assert items == {a: 2, b: 1}
    with pytest.raises(SellingApiNotFoundException):
        client.confirm_shipment("111-0000000-0000000", **package(control, "P3", [(a, 1)]))
    with pytest.raises(SellingApiBadRequestException):
        client.confirm_shipment(order_id, **package(control, "P4", [(a, 1)], shipDate="02/21/2022"))
