"""Every emulator operation, over real HTTP, answers with bodies that validate against Amazon's
own models (strictly: no property the model does not define), for successes and errors."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from sandbox.amazon import operations, sqs
from sandbox.amazon.clock import isoformat, parse_iso
from tests.sandbox import spapi_models
from tests.sandbox.helpers import SpApi, body, grantless_token

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ALL_INCLUDED = "BUYER,RECIPIENT,PROCEEDS,EXPENSE,PROMOTION,CANCELLATION,FULFILLMENT,PACKAGES"
FEED_XML = """<?xml version="1.0" encoding="UTF-8"?>
<AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:noNamespaceSchemaLocation="amzn-envelope.xsd">
  <Header><DocumentVersion>1.01</DocumentVersion><MerchantIdentifier>M1</MerchantIdentifier></Header>
  <MessageType>OrderAcknowledgement</MessageType>
  <Message><MessageID>1</MessageID><OrderAcknowledgement>
    <AmazonOrderID>{order_id}</AmazonOrderID><StatusCode>Failure</StatusCode>
    <Item><AmazonOrderItemCode>{item_id}</AmazonOrderItemCode>
      <CancelReason>NoInventory</CancelReason></Item>
  </OrderAcknowledgement></Message>
</AmazonEnvelope>"""


class Checker:
    """Calls the emulator and validates every answer against the operation's model."""

    def __init__(self, api: SpApi) -> None:
        self.api = api
        self.covered: set[str] = set()
        self.statuses: set[tuple[str, int]] = set()

    def __call__(self, method, path, expect: int, params=None, json=None, token=None):
        response = self.api.call(method, path, params=params, json=json, token=token)
        assert response.status_code == expect, (method, path, response.status_code, response.text)
        op, _ = operations.match(method, path)
        assert response.headers["x-amzn-RateLimit-Limit"] == op.rate
        assert response.headers["x-amzn-RequestId"]
        data = body(response)
        if op.model:
            spapi_models.validate(op.model, op.method, op.path, response.status_code, data)
        self.covered.add(op.name)
        self.statuses.add((op.name, response.status_code))
        return data


def test_every_operation_answers_in_the_shape_of_amazons_models(amazon_sandbox_unlimited):
    sandbox = amazon_sandbox_unlimited
    control = sandbox.control
    seller = control.create_seller(
        name="Conformance", marketplace_ids=["ATVPDKIKX0DER", "A1PA6795UKMFR9", "A1VC38T7YXB528"]
    )
    sid = seller["selling_partner_id"]
    now = parse_iso(control.now())
    control.generate_orders(
        sid,
        count=30,
        seed="conformance",
        placed_from=isoformat(now - timedelta(days=3)),
        placed_to=isoformat(now),
        afn_share=0.2,
        business_share=0.3,
        buyer_cancel_share=0.2,
        stays_pending_share=0.1,
        payment_declined_share=0.1,
    )
    placed = control.place_order(
        sid, items=[{"quantity": 2}, {"quantity": 1}], is_business_order=True
    )
    japanese = control.place_order(sid, marketplace_id="A1VC38T7YXB528", items=[{"quantity": 1}])
    control.advance_clock(minutes=31)
    check = Checker(SpApi(seller))
    order_id = placed["amazon_order_id"]
    first, second = (i["order_item_id"] for i in placed["items"])
    shipment = {
        "marketplaceId": "ATVPDKIKX0DER",
        "packageDetail": {
            "packageReferenceId": "1",
            "carrierCode": "UPS",
            "carrierName": "UPS",
            "shippingMethod": "Ground",
            "trackingNumber": "1Z999",
            "shipDate": control.now(),
            "orderItems": [{"orderItemId": first, "quantity": 2}],
        },
    }
    check("POST", f"/orders/v0/orders/{order_id}/shipmentConfirmation", 204, json=shipment)
    jp_item = japanese["items"][0]["order_item_id"]
    check(
        "POST",
        f"/orders/v0/orders/{japanese['amazon_order_id']}/shipmentConfirmation",
        204,
        json={
            "marketplaceId": "A1VC38T7YXB528",
            "packageDetail": {
                **shipment["packageDetail"],
                "orderItems": [{"orderItemId": jp_item, "quantity": 1}],
            },
        },
    )
    control.refund_in_seller_central(
        sid, order_id, items=[{"order_item_id": first, "components": {"Principal": "3.00"}}]
    )
    control.refund_in_seller_central(sid, japanese["amazon_order_id"])
    control.request_buyer_cancellation(sid, order_id, "Found cheaper somewhere else.")
    control.advance_clock(minutes=3)
    since = isoformat(now - timedelta(days=4))

    # Orders v0: every page, every order, in both date modes.
    order_ids, token = [], None
    while True:
        params = {"MarketplaceIds": seller["marketplace_ids"], "MaxResultsPerPage": 7}
        params.update({"NextToken": token} if token else {"CreatedAfter": since})
        page = check("GET", "/orders/v0/orders", 200, params=params)["payload"]
        order_ids += [o["AmazonOrderId"] for o in page["Orders"]]
        token = page.get("NextToken")
        if not token:
            break
    assert len(order_ids) == len(set(order_ids)) == 32
    check(
        "GET",
        "/orders/v0/orders",
        200,
        params={"MarketplaceIds": ["ATVPDKIKX0DER"], "LastUpdatedAfter": since},
    )
    for amazon_order_id in order_ids:
        check("GET", f"/orders/v0/orders/{amazon_order_id}", 200)
        check("GET", f"/orders/v0/orders/{amazon_order_id}/orderItems", 200)
        check("GET", f"/finances/v0/orders/{amazon_order_id}/financialEvents", 200)
        check(
            "GET",
            f"/orders/2026-01-01/orders/{amazon_order_id}",
            200,
            params={"includedData": ALL_INCLUDED},
        )
    check("GET", f"/orders/v0/orders/{order_id}/address", 200)
    check("GET", f"/orders/v0/orders/{order_id}/buyerInfo", 200)
    check("GET", f"/orders/v0/orders/{order_id}/orderItems/buyerInfo", 200)

    # Restricted data token: PII for the resources it names.
    rdt = check.api.call(
        "POST",
        "/tokens/2021-03-01/restrictedDataToken",
        json={
            "restrictedResources": [
                {
                    "method": "GET",
                    "path": "/orders/v0/orders",
                    "dataElements": ["buyerInfo", "shippingAddress"],
                },
                {"method": "GET", "path": f"/orders/v0/orders/{order_id}/address"},
                {"method": "GET", "path": "/orders/v0/orders/{orderId}/buyerInfo"},
            ]
        },
    )
    assert rdt.status_code == 200 and set(rdt.json()) == {"restrictedDataToken", "expiresIn"}
    check.covered.add("createRestrictedDataToken")
    restricted = rdt.json()["restrictedDataToken"]
    full = check("GET", f"/orders/v0/orders/{order_id}/address", 200, token=restricted)
    assert full["payload"]["ShippingAddress"]["AddressLine1"]
    check("GET", f"/orders/v0/orders/{order_id}/buyerInfo", 200, token=restricted)
    listing = check(
        "GET",
        "/orders/v0/orders",
        200,
        params={"MarketplaceIds": ["ATVPDKIKX0DER"], "CreatedAfter": since},
        token=restricted,
    )
    assert all("BuyerInfo" in o for o in listing["payload"]["Orders"])

    # Orders 2026-01-01.
    token, seen = None, 0
    while True:
        params = {"includedData": ALL_INCLUDED, "maxResultsPerPage": 9}
        params.update({"paginationToken": token} if token else {"createdAfter": since})
        page = check("GET", "/orders/2026-01-01/orders", 200, params=params)
        seen += len(page["orders"])
        token = page.get("pagination", {}).get("nextToken")
        if not token:
            break
    assert seen == 32

    # Feeds, end to end, plus a cancelled one.
    document = check(
        "POST", "/feeds/2021-06-30/documents", 201, json={"contentType": "text/xml; charset=UTF-8"}
    )
    upload = requests.put(
        document["url"],
        data=FEED_XML.format(order_id=order_id, item_id=second).encode(),
        headers={"Content-Type": "text/xml; charset=UTF-8"},
        timeout=30,
    )
    assert upload.status_code == 200
    spec = {
        "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA",
        "marketplaceIds": ["ATVPDKIKX0DER"],
        "inputFeedDocumentId": document["feedDocumentId"],
    }
    feed_id = check("POST", "/feeds/2021-06-30/feeds", 202, json=spec)["feedId"]
    other = check("POST", "/feeds/2021-06-30/feeds", 202, json=spec)["feedId"]
    check("DELETE", f"/feeds/2021-06-30/feeds/{other}", 200)
    assert check("GET", f"/feeds/2021-06-30/feeds/{feed_id}", 200)["processingStatus"] == "IN_QUEUE"
    control.advance_clock(minutes=2)
    done = check("GET", f"/feeds/2021-06-30/feeds/{feed_id}", 200)
    assert done["processingStatus"] == "DONE"
    listed = check(
        "GET",
        "/feeds/2021-06-30/feeds",
        200,
        params={"feedTypes": ["POST_ORDER_ACKNOWLEDGEMENT_DATA"], "pageSize": 1},
    )
    check("GET", "/feeds/2021-06-30/feeds", 200, params={"nextToken": listed["nextToken"]})
    result = check("GET", f"/feeds/2021-06-30/documents/{done['resultFeedDocumentId']}", 200)
    report = requests.get(result["url"], timeout=30)
    assert report.status_code == 200 and b"<MessagesSuccessful>1<" in report.content

    # Finances across orders.
    control.advance_clock(minutes=3)
    events = check("GET", "/finances/v0/financialEvents", 200, params={"PostedAfter": since})[
        "payload"
    ]["FinancialEvents"]
    assert events["ShipmentEventList"] and events["RefundEventList"]

    # Notifications: the application's destination (grantless), the seller's subscription.
    grantless = grantless_token(seller)
    destination = check(
        "POST",
        "/notifications/v1/destinations",
        200,
        json={"name": "conformance", "resourceSpecification": {"sqs": {"arn": sqs.queue_arn()}}},
        token=grantless,
    )["payload"]
    destination_id = destination["destinationId"]
    assert check("GET", "/notifications/v1/destinations", 200, token=grantless)["payload"]
    check("GET", f"/notifications/v1/destinations/{destination_id}", 200, token=grantless)
    subscribe = {"payloadVersion": "1.0", "destinationId": destination_id}
    subscription = check(
        "POST", "/notifications/v1/subscriptions/ORDER_CHANGE", 200, json=subscribe
    )["payload"]
    check("POST", "/notifications/v1/subscriptions/ORDER_CHANGE", 409, json=subscribe)
    check("GET", "/notifications/v1/subscriptions/ORDER_CHANGE", 200)
    by_id = f"/notifications/v1/subscriptions/ORDER_CHANGE/{subscription['subscriptionId']}"
    check("GET", by_id, 200)
    check("DELETE", by_id, 200)
    check("GET", "/notifications/v1/subscriptions/ORDER_CHANGE", 404)
    check("GET", "/notifications/v1/destinations", 403)  # a seller's token, grantless operation
    check("DELETE", f"/notifications/v1/destinations/{destination_id}", 200, token=grantless)

    # Errors, in each operation's documented error shape.
    check("GET", "/orders/v0/orders", 400, params={"CreatedAfter": since})
    check("GET", "/orders/v0/orders/902-0000000-0000000", 404)
    check("GET", "/orders/v0/orders/902-0000000-0000000/orderItems", 404)
    check("GET", "/orders/v0/orders/bad", 400)
    check("GET", "/orders/v0/orders", 403, params={"CreatedAfter": since}, token="")
    check(
        "POST",
        f"/orders/v0/orders/{order_id}/shipmentConfirmation",
        400,
        json={**shipment, "packageDetail": {**shipment["packageDetail"], "shipDate": "02/21/2022"}},
    )
    check("GET", "/orders/2026-01-01/orders", 400, params={"createdAfter": "TEST_CASE_400"})
    check("GET", "/orders/2026-01-01/orders/902-0000000-0000000", 404)
    check("POST", "/feeds/2021-06-30/documents", 400, json={})
    check("GET", "/feeds/2021-06-30/feeds/123", 404)
    check("GET", "/finances/v0/orders/BAD-ORDER/financialEvents", 400)

    # Throttling, in the documented 429 shape.
    control.set_rate_limits(True)
    statuses = [
        check.api.call("GET", f"/feeds/2021-06-30/documents/{done['resultFeedDocumentId']}")
        for _ in range(11)
    ]
    assert [r.status_code for r in statuses].count(429) == 1
    spapi_models.validate(
        "feeds_2021-06-30.json",
        "GET",
        "/feeds/2021-06-30/documents/{feedDocumentId}",
        429,
        statuses[-1].json(),
    )

    assert check.covered == {op.name for op in operations.OPERATIONS}
    assert urlsplit(document["url"]).netloc == urlsplit(sandbox.base_url).netloc


def test_the_usage_plans_are_the_ones_in_amazons_models():
    for op in operations.OPERATIONS:
        if not op.model:
            continue
        rate, burst = spapi_models.usage_plan(op.model, op.method, op.path)
        assert (op.rate, op.burst) == (rate, burst), op.name
        _, _, model_op = spapi_models.find_operation(op.model, op.operation_id)
        assert model_op is spapi_models.operation(op.model, op.method, op.path)
