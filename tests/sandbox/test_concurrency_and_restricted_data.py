"""Several clients at once (our workers) against the threaded server, and restricted data
tokens (PII only through an RDT, and an RDT only for the resources it names)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sp_api.api import Orders

from sandbox.amazon.clock import isoformat, parse_iso
from tests.sandbox.helpers import SpApi

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_concurrent_workers_are_served_and_a_package_is_confirmed_once(amazon_sandbox_unlimited):
    control = amazon_sandbox_unlimited.control
    sid = amazon_sandbox_unlimited.seller["selling_partner_id"]
    placed = control.place_order(sid, items=[{"quantity": 3}])
    control.generate_orders(sid, 40, seed="busy")
    control.advance_clock(minutes=31)
    api = SpApi(amazon_sandbox_unlimited.seller)
    since = isoformat(parse_iso(control.now()) - timedelta(days=2))
    confirmation = {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": "same-box",
            "carrierCode": "UPS",
            "trackingNumber": "1Z7",
            "shipDate": control.now(),
            "orderItems": [{"orderItemId": placed["items"][0]["order_item_id"], "quantity": 2}],
        },
    }

    def work(n: int) -> list[int]:
        codes = [
            api.get(
                "/orders/v0/orders", MarketplaceIds="ATVPDKIKX0DER", CreatedAfter=since
            ).status_code,
            api.get(f"/orders/v0/orders/{placed['amazon_order_id']}").status_code,
            api.call(
                "POST",
                f"/orders/v0/orders/{placed['amazon_order_id']}/shipmentConfirmation",
                json=confirmation,
            ).status_code,
        ]
        if n % 2:
            codes.append(
                api.get(f"/orders/v0/orders/{placed['amazon_order_id']}/orderItems").status_code
            )
        return codes

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(16)))
    assert all(code in (200, 204) for codes in results for code in codes), results
    state = control.order(sid, placed["amazon_order_id"])
    assert state["items"][0]["quantity_shipped"] == 2  # the same package, confirmed once
    assert state["status"] == "PartiallyShipped" and len(state["packages"]) == 1


def test_personal_data_needs_a_restricted_data_token_for_that_resource(amazon_sandbox):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    placed = control.place_order(sid, buyer_name="Ada Lovelace")
    control.advance_clock(minutes=31)
    order_id = placed["amazon_order_id"]
    client = Orders(**amazon_sandbox.client_kwargs())

    plain = client.get_order(order_id).payload
    assert "BuyerInfo" not in plain and "AddressLine1" not in plain["ShippingAddress"]
    assert set(client.get_order_address(order_id).payload["ShippingAddress"]) <= {
        "City",
        "StateOrRegion",
        "PostalCode",
        "CountryCode",
        "AddressType",
    }
    # The library's own RDT flow (tokens API, then the call with the token).
    restricted = client.get_order(order_id, RestrictedResources=["buyerInfo", "shippingAddress"])
    assert restricted.payload["BuyerInfo"]["BuyerName"] == "Ada Lovelace"
    assert restricted.payload["ShippingAddress"]["AddressLine1"]

    api = SpApi(amazon_sandbox.seller)
    token = api.call(
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
        json={"restrictedResources": [{"method": "GET", "path": f"/orders/v0/orders/{order_id}"}]},
    ).json()["restrictedDataToken"]
    no_elements = api.call("GET", f"/orders/v0/orders/{order_id}", token=token).json()
    assert "BuyerInfo" not in no_elements["payload"]  # no dataElements asked, none given
    for path in (f"/orders/v0/orders/{order_id}/orderItems", "/orders/v0/orders/111-1-1/address"):
        assert api.call("GET", path, token=token).status_code == 403
    assert api.call("GET", "/feeds/2021-06-30/feeds/1", token=token).status_code == 403
    refused = api.call(
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
        json={"restrictedResources": [{"method": "GET", "path": "/feeds/2021-06-30/feeds"}]},
    )
    assert refused.status_code == 400
