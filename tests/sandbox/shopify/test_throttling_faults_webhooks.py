"""The cost bucket, injected faults, and webhook delivery (signature, retries, store-admin
actions) of the Shopify emulator."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from tests.sandbox.shopify.helpers import Receiver, create_order, graphql

pytestmark = pytest.mark.django_db(transaction=True)

# lineItems(first: 50) of an order costs 2 + 50 * 1 = 52; the order itself 1: 53 in all.
EXPENSIVE = "{ orders(first: 1) { nodes { id lineItems(first: 50) { nodes { id } } } } }"
EXPENSIVE_COST = 2 + 1 * (1 + 2 + 50 * 1)


def test_requested_cost_follows_first_and_actual_cost_counts_what_came_back(shopify_sandbox):
    store = shopify_sandbox.store
    create_order(store)
    cost = graphql(store, EXPENSIVE).json()["extensions"]["cost"]
    assert cost["requestedQueryCost"] == EXPENSIVE_COST
    # one order with two line items: 2 + (1 + 2 + 2)
    assert cost["actualQueryCost"] == 7
    status = cost["throttleStatus"]
    assert status["maximumAvailable"] == 2000 and status["restoreRate"] == 100


def test_bucket_empties_then_throttled_with_throttle_status_then_restores_at_the_rate(
    shopify_sandbox,
):
    store, control = shopify_sandbox.store, shopify_sandbox.control
    control.freeze_buckets(True)  # points restore only when the clock is advanced
    control.set_throttle(store["domain"], maximum_available=100, restore_rate=10)
    first = graphql(store, EXPENSIVE).json()
    # nothing to list: the actual cost is 2, the rest of the 55 requested is given back
    assert first["extensions"]["cost"]["actualQueryCost"] == 2
    assert first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 98
    control.set_throttle(store["domain"], currently_available=20)
    throttled = graphql(store, EXPENSIVE).json()
    assert throttled["errors"] == [
        {
            "message": "Throttled",
            "extensions": {
                "code": "THROTTLED",
                "documentation": "https://shopify.dev/api/usage/rate-limits",
            },
        }
    ]
    assert "data" not in throttled
    cost = throttled["extensions"]["cost"]
    assert cost["requestedQueryCost"] == EXPENSIVE_COST
    assert cost["throttleStatus"] == {
        "maximumAvailable": 100.0,
        "currentlyAvailable": 20,
        "restoreRate": 10.0,
    }
    control.advance_clock(seconds=3)  # 20 + 3 * 10 = 50 < 55: still throttled
    still = graphql(store, EXPENSIVE).json()
    assert still["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 50
    assert still["errors"][0]["extensions"]["code"] == "THROTTLED"
    control.advance_clock(seconds=0.5)  # 55: enough
    ok = graphql(store, EXPENSIVE).json()
    assert "errors" not in ok
    assert ok["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 55 - 2


def test_the_standard_bucket_restores_100_points_a_second(shopify_sandbox):
    store, control = shopify_sandbox.store, shopify_sandbox.control
    control.freeze_buckets(True)
    control.set_throttle(store["domain"], currently_available=0)
    control.advance_clock(seconds=2.5)
    body = graphql(store, "{ shop { name } }").json()
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 250 - 1


def test_a_query_costing_more_than_1000_is_refused(shopify_sandbox):
    body = graphql(
        shopify_sandbox.store,
        "{ orders(first: 250) { nodes { lineItems(first: 250) { nodes { id } } } } }",
    ).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        ("error_500", 500),
        ("error_503", 503),
        ("unauthorized", 401),
        ("payment_required", 402),
        ("locked", 423),
    ],
)
def test_a_fault_answers_the_next_requests_and_then_stops(shopify_sandbox, kind, status):
    store, control = shopify_sandbox.store, shopify_sandbox.control
    control.inject_fault(kind, count=2)
    assert graphql(store, "{ shop { name } }").status_code == status
    assert graphql(store, "{ shop { name } }").status_code == status
    assert graphql(store, "{ shop { name } }").status_code == 200
    assert control.faults()["faults"][0]["hits"] == 2


def test_a_throttle_storm_answers_throttled_with_an_empty_bucket(shopify_sandbox):
    store, control = shopify_sandbox.store, shopify_sandbox.control
    control.inject_fault("throttle", count=1, store=store["domain"])
    body = graphql(store, "{ shop { name } }").json()
    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 0


SUBSCRIBE = """
mutation sub($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
    webhookSubscription {
      id topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } }
    }
    userErrors { field message }
  }
}
"""


def subscribe(store: dict, topic: str, url: str) -> dict:
    body = graphql(
        store, SUBSCRIBE, {"topic": topic, "sub": {"callbackUrl": url, "format": "JSON"}}
    )
    payload = body.json()["data"]["webhookSubscriptionCreate"]
    assert payload["userErrors"] == [], payload
    return payload["webhookSubscription"]


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_webhook_is_signed_with_the_client_secret_and_retried_after_a_500(shopify_sandbox):
    store, control = shopify_sandbox.store, shopify_sandbox.control
    with Receiver(statuses=[500]) as receiver:
        sub = subscribe(store, "ORDERS_CREATE", receiver.url)
        assert sub["endpoint"] == {"__typename": "WebhookHttpEndpoint", "callbackUrl": receiver.url}
        created = create_order(store, source_identifier="111-5555555-5555555")
        [delivery] = wait_for(lambda: control.deliveries(topic="orders/create", status="delivered"))
    first, second = receiver.received
    assert (first["status"], second["status"]) == (500, 200)
    assert delivery["attempts"] == 2 and delivery["attempt_log"][0]["status"] == 500
    # the same webhook (id, body, signature) on the retry
    assert first["body"] == second["body"]
    assert first["headers"]["X-Shopify-Webhook-Id"] == second["headers"]["X-Shopify-Webhook-Id"]
    headers = second["headers"]
    expected = base64.b64encode(
        hmac.new(store["client_secret"].encode(), second["body"], hashlib.sha256).digest()
    ).decode()
    assert headers["X-Shopify-Hmac-Sha256"] == expected
    assert headers["X-Shopify-Topic"] == "orders/create"
    assert headers["X-Shopify-Shop-Domain"] == store["domain"]
    assert headers["X-Shopify-Triggered-At"]
    payload = json.loads(second["body"])
    assert payload["admin_graphql_api_id"] == created["id"]
    assert payload["source_identifier"] == "111-5555555-5555555"
    assert payload["financial_status"] == "paid"


def test_a_receiver_that_keeps_failing_gets_the_bounded_retries_then_the_delivery_fails(
    shopify_sandbox,
):
    store, control = shopify_sandbox.store, shopify_sandbox.control
    control.set_webhook_retry([0.01, 0.01])
    with Receiver(statuses=[503, 503, 503, 503]) as receiver:
        subscribe(store, "ORDERS_CREATE", receiver.url)
        create_order(store)
        [delivery] = wait_for(lambda: control.deliveries(status="failed"))
    assert delivery["attempts"] == 3 and len(receiver.received) == 3


def test_fulfilling_in_the_store_admin_fires_fulfillments_create(shopify_sandbox):
    store, control = shopify_sandbox.store, shopify_sandbox.control
    created = create_order(store)
    with Receiver() as receiver:
        subscribe(store, "FULFILLMENTS_CREATE", receiver.url)
        subscribe(store, "ORDERS_UPDATED", receiver.url)
        state = control.fulfil(
            store["domain"],
            created["id"],
            lines=[{"sku": "SKU-A", "quantity": 2}],
            tracking={"company": "USPS", "number": "9400", "url": "https://usps.example/9400"},
        )
        assert state["fulfillment_status"] == "partial"
        wait_for(
            lambda: receiver.by_topic("fulfillments/create") and receiver.by_topic("orders/updated")
        )
    [hook] = receiver.by_topic("fulfillments/create")
    fulfillment = json.loads(hook["body"])
    assert fulfillment["order_id"] == int(created["id"].rsplit("/", 1)[1])
    assert fulfillment["tracking_company"] == "USPS"
    assert fulfillment["tracking_number"] == "9400"
    assert [(li["sku"], li["quantity"]) for li in fulfillment["line_items"]] == [("SKU-A", 2)]


def test_refund_and_cancel_in_the_store_admin_fire_their_webhooks(shopify_sandbox):
    store, control = shopify_sandbox.store, shopify_sandbox.control
    created = create_order(store)
    with Receiver() as receiver:
        subscribe(store, "REFUNDS_CREATE", receiver.url)
        subscribe(store, "ORDERS_CANCELLED", receiver.url)
        control.refund(
            store["domain"], created["id"], lines=[{"sku": "SKU-B", "quantity": 1}], amount="5.50"
        )
        control.cancel(store["domain"], created["id"], reason="CUSTOMER")
        wait_for(
            lambda: (
                len(receiver.by_topic("refunds/create")) == 2
                and receiver.by_topic("orders/cancelled")
            )
        )
    refunds = [json.loads(r["body"]) for r in receiver.by_topic("refunds/create")]
    assert refunds[0]["transactions"][0]["amount"] == "5.50"
    assert refunds[1]["transactions"][0]["amount"] == "20.00"  # the cancellation's refund
    cancelled = json.loads(receiver.by_topic("orders/cancelled")[0]["body"])
    assert cancelled["cancel_reason"] == "customer" and cancelled["financial_status"] == "refunded"
