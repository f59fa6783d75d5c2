"""The emulator's Admin GraphQL endpoint: authentication, schema validation, orders and the
mutations' userErrors, over real HTTP."""

from __future__ import annotations

import pytest

from tests.sandbox.shopify.helpers import create_order, graphql

pytestmark = pytest.mark.django_db(transaction=True)

ORDER_QUERY = """
query order($id: ID!) {
  order(id: $id) {
    id name sourceName sourceIdentifier tags displayFinancialStatus displayFulfillmentStatus
    cancelledAt
    totalPriceSet { shopMoney { amount currencyCode } }
    lineItems(first: 10) { nodes { id sku title quantity unfulfilledQuantity } }
    fulfillmentOrders(first: 5) {
      nodes { id status lineItems(first: 10) { nodes { id remainingQuantity lineItem { sku } } } }
    }
    fulfillments(first: 5) { id status trackingInfo { company number url } }
    refunds(first: 5) { id totalRefundedSet { shopMoney { amount } } }
    transactions(first: 5) { kind status amountSet { shopMoney { amount } } }
  }
}
"""

FULFILLMENT_CREATE = """
mutation fulfil($fulfillment: FulfillmentInput!) {
  fulfillmentCreate(fulfillment: $fulfillment) {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}
"""


def order(store: dict, order_id: str) -> dict:
    response = graphql(store, ORDER_QUERY, {"id": order_id})
    assert response.status_code == 200
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["order"]


def test_an_unknown_access_token_is_refused_with_401(shopify_sandbox):
    response = graphql(shopify_sandbox.store, "{ shop { name } }", token="shpat_nobody")
    assert response.status_code == 401
    assert "Invalid API key or access token" in response.json()["errors"]


def test_the_shop_is_read_with_shopifys_field_names(shopify_sandbox):
    body = graphql(
        shopify_sandbox.store, "{ shop { name myshopifyDomain currencyCode ianaTimezone } }"
    ).json()
    assert body["data"]["shop"] == {
        "name": "Keelson Test Store",
        "myshopifyDomain": "keelson-test.myshopify.com",
        "currencyCode": "USD",
        "ianaTimezone": "America/New_York",
    }
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1


def test_schema_validation_rejects_an_unknown_field_with_a_graphql_error(shopify_sandbox):
    response = graphql(shopify_sandbox.store, "{ shop { name primaryDomainColour } }")
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert "Cannot query field 'primaryDomainColour' on type 'Shop'" in error["message"]


def test_a_variable_of_the_wrong_input_type_is_a_graphql_error(shopify_sandbox):
    mutation = """mutation($order: OrderCreateOrderInput!) {
      orderCreate(order: $order) { userErrors { message } } }"""
    body = graphql(shopify_sandbox.store, mutation, {"order": {"lineItemz": []}}).json()
    assert body["errors"] and "lineItemz" in body["errors"][0]["message"]


def test_order_create_and_order_query_round_trip(shopify_sandbox):
    store = shopify_sandbox.store
    created = create_order(store, source_identifier="111-2222222-3333333")
    assert created["id"].startswith("gid://shopify/Order/")
    got = order(store, created["id"])
    assert got["sourceName"] == "amazon"
    assert got["sourceIdentifier"] == "111-2222222-3333333"
    assert got["tags"] == ["amazon"]
    assert got["displayFinancialStatus"] == "PAID"
    assert got["displayFulfillmentStatus"] == "UNFULFILLED"
    assert got["totalPriceSet"]["shopMoney"] == {"amount": "25.50", "currencyCode": "USD"}
    assert [(li["sku"], li["quantity"]) for li in got["lineItems"]["nodes"]] == [
        ("SKU-A", 2),
        ("SKU-B", 1),
    ]
    [fo] = got["fulfillmentOrders"]["nodes"]
    assert fo["status"] == "OPEN"
    assert [li["remainingQuantity"] for li in fo["lineItems"]["nodes"]] == [2, 1]
    assert got["transactions"] == [
        {"kind": "SALE", "status": "SUCCESS", "amountSet": {"shopMoney": {"amount": "25.50"}}}
    ]


def test_orders_are_searched_by_source_identifier_and_updated_at(shopify_sandbox):
    store = shopify_sandbox.store
    first = create_order(store, source_identifier="111-0000000-0000001")
    create_order(store, source_identifier="111-0000000-0000002")
    query = (
        """query($q: String) { orders(first: 10, query: $q) { nodes { id sourceIdentifier } } }"""
    )
    found = graphql(store, query, {"q": "source_identifier:'111-0000000-0000001'"}).json()
    assert found["data"]["orders"]["nodes"] == [
        {"id": first["id"], "sourceIdentifier": "111-0000000-0000001"}
    ]
    now = shopify_sandbox.control.now()
    later = graphql(store, query, {"q": f"updated_at:>{now}"}).json()
    assert later["data"]["orders"]["nodes"] == []
    shopify_sandbox.control.advance_clock(seconds=5)
    shopify_sandbox.control.fulfil(store["domain"], first["id"])
    after_fulfil = graphql(store, query, {"q": f"updated_at:>{now}"}).json()
    assert [o["id"] for o in after_fulfil["data"]["orders"]["nodes"]] == [first["id"]]


def test_orders_are_paged_with_cursors(shopify_sandbox):
    store = shopify_sandbox.store
    ids = [create_order(store, source_identifier=f"111-0000000-00000{i}")["id"] for i in range(3)]
    query = """query($after: String) { orders(first: 2, after: $after) {
      nodes { id } pageInfo { hasNextPage endCursor } } }"""
    page1 = graphql(store, query).json()["data"]["orders"]
    assert [o["id"] for o in page1["nodes"]] == ids[:2] and page1["pageInfo"]["hasNextPage"]
    page2 = graphql(store, query, {"after": page1["pageInfo"]["endCursor"]}).json()
    page2 = page2["data"]["orders"]
    assert [o["id"] for o in page2["nodes"]] == ids[2:] and not page2["pageInfo"]["hasNextPage"]


def test_a_connection_without_first_or_last_is_an_error(shopify_sandbox):
    body = graphql(shopify_sandbox.store, "{ orders { nodes { id } } }").json()
    assert body["errors"][0]["message"] == "you must provide one of first or last"


def fulfillment_input(got: dict, quantities: list[int], tracking: dict | None = None) -> dict:
    [fo] = got["fulfillmentOrders"]["nodes"]
    lines = [
        {"id": li["id"], "quantity": q}
        for li, q in zip(fo["lineItems"]["nodes"], quantities, strict=True)
        if q
    ]
    return {
        "lineItemsByFulfillmentOrder": [
            {"fulfillmentOrderId": fo["id"], "fulfillmentOrderLineItems": lines}
        ],
        "notifyCustomer": False,
        "trackingInfo": tracking,
    }


def test_fulfillment_create_fulfils_part_then_the_rest(shopify_sandbox):
    store = shopify_sandbox.store
    created = create_order(store)
    got = order(store, created["id"])
    tracking = {"company": "UPS", "number": "1Z999", "url": "https://ups.example/1Z999"}
    body = graphql(
        store, FULFILLMENT_CREATE, {"fulfillment": fulfillment_input(got, [1, 0], tracking)}
    ).json()
    payload = body["data"]["fulfillmentCreate"]
    assert payload["userErrors"] == []
    assert payload["fulfillment"]["trackingInfo"] == [tracking]
    assert order(store, created["id"])["displayFulfillmentStatus"] == "PARTIALLY_FULFILLED"
    body = graphql(store, FULFILLMENT_CREATE, {"fulfillment": fulfillment_input(got, [1, 1])})
    assert body.json()["data"]["fulfillmentCreate"]["userErrors"] == []
    final = order(store, created["id"])
    assert final["displayFulfillmentStatus"] == "FULFILLED"
    assert final["fulfillmentOrders"]["nodes"][0]["status"] == "CLOSED"
    assert len(final["fulfillments"]) == 2


def test_fulfilling_more_than_remains_is_a_user_error_and_changes_nothing(shopify_sandbox):
    store = shopify_sandbox.store
    created = create_order(store)
    got = order(store, created["id"])
    body = graphql(store, FULFILLMENT_CREATE, {"fulfillment": fulfillment_input(got, [3, 0])})
    payload = body.json()["data"]["fulfillmentCreate"]
    assert payload["fulfillment"] is None
    [error] = payload["userErrors"]
    assert "2 remaining, 3 requested" in error["message"]
    assert error["field"] == ["fulfillment", "lineItemsByFulfillmentOrder"]
    after = order(store, created["id"])
    assert after["displayFulfillmentStatus"] == "UNFULFILLED" and after["fulfillments"] == []


REFUND_CREATE = """
mutation refund($input: RefundInput!) {
  refundCreate(input: $input) {
    refund { id totalRefundedSet { shopMoney { amount } } }
    order { displayFinancialStatus }
    userErrors { field message }
  }
}
"""


def test_refunding_more_than_was_paid_is_a_user_error(shopify_sandbox):
    store = shopify_sandbox.store
    created = create_order(store)
    refund = {
        "orderId": created["id"],
        "notify": False,
        "transactions": [
            {"amount": "30.00", "gateway": "amazon", "kind": "REFUND", "orderId": created["id"]}
        ],
    }
    payload = graphql(store, REFUND_CREATE, {"input": refund}).json()["data"]["refundCreate"]
    assert payload["refund"] is None
    assert "greater than the net payment 25.50" in payload["userErrors"][0]["message"]
    refund["transactions"][0]["amount"] = "10.00"
    payload = graphql(store, REFUND_CREATE, {"input": refund}).json()["data"]["refundCreate"]
    assert payload["userErrors"] == []
    assert payload["refund"]["totalRefundedSet"]["shopMoney"]["amount"] == "10.00"
    assert payload["order"]["displayFinancialStatus"] == "PARTIALLY_REFUNDED"


def test_order_cancel_refunds_and_closes_the_order(shopify_sandbox):
    store = shopify_sandbox.store
    created = create_order(store)
    mutation = """mutation($id: ID!) {
      orderCancel(orderId: $id, reason: CUSTOMER, refund: true, restock: true,
                  notifyCustomer: false) {
        job { id done } orderCancelUserErrors { field message code } } }"""
    payload = graphql(store, mutation, {"id": created["id"]}).json()["data"]["orderCancel"]
    assert payload["orderCancelUserErrors"] == [] and payload["job"]["done"] is True
    got = order(store, created["id"])
    assert got["cancelledAt"] is not None
    assert got["displayFinancialStatus"] == "REFUNDED"
    assert got["fulfillmentOrders"]["nodes"][0]["status"] == "CANCELLED"
    again = graphql(store, mutation, {"id": created["id"]}).json()["data"]["orderCancel"]
    assert again["orderCancelUserErrors"][0]["code"] == "INVALID"
