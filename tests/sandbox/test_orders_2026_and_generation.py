"""Orders API 2026-01-01 through the real client, and reproducible generated orders."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from sp_api.api import Orders

from sandbox.amazon.clock import isoformat, parse_iso
from sandbox.amazon.control import SandboxControlError, sp_api_client_kwargs

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_search_orders_includes_items_and_the_data_sets_asked_for(amazon_sandbox):
    control, sid = amazon_sandbox.control, amazon_sandbox.seller["selling_partner_id"]
    start = isoformat(parse_iso(control.now()) - timedelta(minutes=1))
    shipped = control.place_order(
        sid, items=[{"quantity": 2, "unit_price": "10.00"}], seller_order_id="KEEL-1"
    )
    waiting = control.place_order(sid, is_business_order=True)
    control.advance_clock(minutes=31)
    Orders(**amazon_sandbox.client_kwargs()).confirm_shipment(
        shipped["amazon_order_id"],
        marketplaceId="ATVPDKIKX0DER",
        packageDetail={
            "packageReferenceId": "PK-1",
            "carrierCode": "UPS",
            "trackingNumber": "1Z42",
            "shipDate": control.now(),
            "orderItems": [{"orderItemId": shipped["items"][0]["order_item_id"], "quantity": 2}],
        },
    )
    control.advance_clock(minutes=3)
    api = Orders(**amazon_sandbox.client_kwargs(), version="2026-01-01")

    bare = api.search_orders(createdAfter=start).payload
    assert {o["orderId"] for o in bare["orders"]} == {
        shipped["amazon_order_id"],
        waiting["amazon_order_id"],
    }
    assert all("orderItems" in o and "fulfillment" not in o for o in bare["orders"])
    # Amazon applies its now minus two minutes (our now() call comes a moment later).
    applied = parse_iso(bare["createdBefore"]) + timedelta(minutes=2)
    assert parse_iso(control.now()) - timedelta(seconds=5) <= applied <= parse_iso(control.now())

    full = api.search_orders(
        createdAfter=start,
        fulfillmentStatuses=["SHIPPED"],
        includedData=["BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES"],
    ).payload["orders"]
    [order] = full
    assert order["orderAliases"] == [{"aliasId": "KEEL-1", "aliasType": "SELLER_ORDER_ID"}]
    assert order["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    assert order["fulfillment"]["fulfilledBy"] == "MERCHANT"
    assert order["proceeds"]["grandTotal"] == {"amount": "21.45", "currencyCode": "USD"}
    assert order["packages"][0]["packageReferenceId"] == "PK-1"
    assert order["packages"][0]["packageItems"] == [
        {"orderItemId": shipped["items"][0]["order_item_id"], "quantity": 2}
    ]
    assert order["orderItems"][0]["fulfillment"] == {
        "quantityFulfilled": 2,
        "quantityUnfulfilled": 0,
    }
    assert order["recipient"]["deliveryAddress"]["countryCode"] == "US"

    business = api.get_order(waiting["amazon_order_id"], includedData=["BUYER"]).payload["order"]
    assert "AMAZON_BUSINESS" in business["programs"]
    assert business["buyer"]["buyerCompanyName"]
    updated = api.search_orders(
        lastUpdatedAfter=start, fulfilledBy=["MERCHANT"], fulfillmentStatuses=["UNSHIPPED"]
    ).payload
    assert [o["orderId"] for o in updated["orders"]] == [waiting["amazon_order_id"]]
    assert "lastUpdatedBefore" in updated


def test_the_same_seed_generates_the_same_orders(amazon_sandbox_unlimited):
    control = amazon_sandbox_unlimited.control
    now = parse_iso(control.now())
    window = {
        "placed_from": isoformat(now - timedelta(days=10)),
        "placed_to": isoformat(now - timedelta(minutes=5)),
    }
    markets = ["ATVPDKIKX0DER", "A1F83G8C2ARO7P", "A1VC38T7YXB528"]
    first, second, other = (control.create_seller(marketplace_ids=markets) for _ in range(3))
    generated = [
        control.generate_orders(s["selling_partner_id"], 60, seed=seed, **window)
        for s, seed in ((first, 42), (second, 42), (other, 7))
    ]
    assert generated[0] == generated[1]
    assert set(generated[0]["amazon_order_ids"]).isdisjoint(generated[2]["amazon_order_ids"])

    def listing(seller: dict) -> list[dict]:
        client = Orders(**sp_api_client_kwargs(seller))
        orders, token = [], None
        while True:
            kwargs = {"NextToken": token} if token else {"CreatedAfter": window["placed_from"]}
            page = client.get_orders(MarketplaceIds=markets, **kwargs).payload
            orders += page["Orders"]
            token = page.get("NextToken")
            if not token:
                return orders

    same = listing(first)
    assert same == listing(second)  # every field, including statuses played out over 10 days
    assert len(same) == 60
    # Realistic variety: several marketplaces and currencies, both channels, several states.
    assert {o["OrderTotal"]["CurrencyCode"] for o in same if "OrderTotal" in o} == {
        "USD",
        "GBP",
        "JPY",
    }
    assert {o["FulfillmentChannel"] for o in same} == {"MFN", "AFN"}
    statuses = Counter(o["OrderStatus"] for o in same)
    assert statuses["Unshipped"] and statuses["Shipped"]
    assert any(o["IsBusinessOrder"] for o in same) and any(o["IsPrime"] for o in same)
    yen = [o for o in same if o.get("OrderTotal", {}).get("CurrencyCode") == "JPY"]
    assert yen and all("." not in o["OrderTotal"]["Amount"] for o in yen)


def test_a_seller_can_have_a_share_of_orders_whose_tax_comes_without_its_detail(
    amazon_sandbox_unlimited,
):
    """Amazon's model makes a TAX breakdown's ``detailedBreakdowns`` optional: the emulator
    leaves them out of ``tax_detail_omitted_share`` of the seller's orders (the same orders on
    every read); getOrderItems (v0) keeps giving ItemTax and ShippingTax apart."""
    control = amazon_sandbox_unlimited.control
    now = parse_iso(control.now())
    seller = control.create_seller(marketplace_ids=["ATVPDKIKX0DER"])
    sid = seller["selling_partner_id"]
    control.generate_orders(
        sid,
        80,
        seed="tax-detail",
        placed_from=isoformat(now - timedelta(days=3)),
        placed_to=isoformat(now - timedelta(hours=2)),
    )
    assert (
        control.update_seller(sid, tax_detail_omitted_share=0.5)["tax_detail_omitted_share"] == 0.5
    )
    api = Orders(**sp_api_client_kwargs(seller), version="2026-01-01")

    def taxes() -> dict[str, bool]:
        """Per order with tax: whether its items' TAX carry the detail."""
        orders = api.search_orders(
            createdAfter=isoformat(now - timedelta(days=4)),
            includedData=["PROCEEDS"],
            maxResultsPerPage=100,
        ).payload["orders"]
        out = {}
        for order in orders:
            rows = [
                b
                for item in order["orderItems"]
                for b in (item.get("proceeds") or {}).get("breakdowns", [])
                if b["type"] == "TAX"
            ]
            if rows:
                out[order["orderId"]] = all("detailedBreakdowns" in b for b in rows)
        return out

    first = taxes()
    assert first == taxes()  # the same orders every time
    without = [order_id for order_id, detailed in first.items() if not detailed]
    assert 0.3 * len(first) <= len(without) <= 0.7 * len(first)
    # getOrderItems of an order without the detail: ItemTax and ShippingTax as ever.
    items = Orders(**sp_api_client_kwargs(seller)).get_order_items(without[0]).payload
    assert all({"ItemTax", "ShippingTax"} <= item.keys() for item in items["OrderItems"])

    control.update_seller(sid, tax_detail_omitted_share=0)
    assert all(taxes().values())
    with pytest.raises(SandboxControlError) as refused:
        control.update_seller(sid, tax_detail_omitted_share=2)
    assert refused.value.status == 400
