"""Shopify's webhooks in (issue 12): the signature over the raw body is checked first (401
otherwise, nothing kept, the body never logged); a delivery sent again is recorded once; the
processing happens in a task, by the handlers the apps register per topic."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import ShopifyWebhookReceipt, WebhookStatus
from integrations.outbox.models import OutboxMessage
from integrations.outbox.services import deliver_due
from integrations.shopify import inbound
from integrations.shopify.connections import connect_store
from integrations.shopify.webhooks import webhook_hmac
from sandbox.shopify.testing import running_shopify_sandbox
from tenants.models import AccountStatus
from tenants.scope import system_context, tenant_context

SECRET = "whsec-test-secret"

# The receiver finds the store through the owner connection (no tenant yet): committed rows.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def store(make_merchant):
    from tenants.models import ShopifyStore

    merchant = make_merchant()
    with tenant_context(merchant):
        return ShopifyStore.objects.create(
            merchant=merchant,
            shop_domain="signed.myshopify.com",
            access_token="shpat_x",
            webhook_secret=SECRET,
        )


def post(
    client, store, body: bytes, *, signature: str | None, webhook_id="wh-1", topic="orders/updated"
):
    headers = {"HTTP_X_SHOPIFY_TOPIC": topic, "HTTP_X_SHOPIFY_WEBHOOK_ID": webhook_id}
    if signature is not None:
        headers["HTTP_X_SHOPIFY_HMAC_SHA256"] = signature
    return client.post(
        f"/webhooks/shopify/{store.pk}/", data=body, content_type="application/json", **headers
    )


def receipts():
    with system_context("test: read receipts"):
        return list(ShopifyWebhookReceipt.objects.order_by("id"))


def test_a_signed_webhook_is_recorded_once_even_when_shopify_sends_it_again(client, store):
    body = json.dumps({"id": 1001, "name": "#1001"}).encode()
    signature = webhook_hmac(body, SECRET)

    first = post(client, store, body, signature=signature)
    again = post(client, store, body, signature=signature)

    assert first.status_code == 200 and first.json() == {"status": "received"}
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    [receipt] = receipts()
    assert (receipt.topic, receipt.webhook_id, receipt.payload) == (
        "orders/updated",
        "wh-1",
        {"id": 1001, "name": "#1001"},
    )
    assert receipt.merchant_id == store.merchant_id


@pytest.mark.parametrize(
    "signature",
    [None, "", "bm90IGEgc2lnbmF0dXJl", webhook_hmac(b'{"id": 2}', SECRET)],
    ids=["missing", "empty", "wrong", "of-another-body"],
)
def test_a_bad_signature_is_401_nothing_is_kept_and_the_body_is_not_logged(
    client, store, signature, caplog
):
    body = b'{"id": 1, "email": "buyer@example.com"}'
    with caplog.at_level(logging.DEBUG):
        response = post(client, store, body, signature=signature)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_signature"
    assert receipts() == []
    assert "buyer@example.com" not in caplog.text
    assert "bad signature" in caplog.text


def test_a_webhook_for_an_unknown_store_is_401(client, store):
    body = b"{}"
    response = client.post(
        "/webhooks/shopify/999999/",
        data=body,
        content_type="application/json",
        HTTP_X_SHOPIFY_HMAC_SHA256=webhook_hmac(body, SECRET),
        HTTP_X_SHOPIFY_TOPIC="orders/updated",
        HTTP_X_SHOPIFY_WEBHOOK_ID="x",
    )
    assert response.status_code == 401


def test_one_stores_signature_opens_no_other_merchants_store(client, store, make_merchant):
    """Tenant isolation of the webhook route: the secret of one merchant's store signs nothing
    for another merchant's store, and what is kept belongs to the store it was sent to."""
    from tenants.models import ShopifyStore

    other = make_merchant()
    with tenant_context(other):
        theirs = ShopifyStore.objects.create(
            merchant=other,
            shop_domain="other.myshopify.com",
            access_token="shpat_y",
            webhook_secret="whsec-their-secret",
        )
    body = b'{"id": 5}'

    response = post(client, theirs, body, signature=webhook_hmac(body, SECRET))
    assert response.status_code == 401
    assert receipts() == []

    assert post(client, store, body, signature=webhook_hmac(body, SECRET)).status_code == 200
    (receipt,) = receipts()
    assert (receipt.store_id, receipt.merchant_id) == (store.pk, store.merchant_id)
    with tenant_context(other):
        assert not ShopifyWebhookReceipt.objects.exists()  # RLS: not even by the table


def test_a_disconnected_store_is_acknowledged_but_not_acted_on(client, store):
    with tenant_context(store.merchant_id):
        type(store).objects.filter(pk=store.pk).update(status=AccountStatus.DISCONNECTED)
    body = b'{"id": 3}'
    response = post(client, store, body, signature=webhook_hmac(body, SECRET))
    assert response.status_code == 200 and response.json() == {"status": "ignored"}
    assert receipts() == []


def test_the_task_runs_the_topics_handlers_once_and_records_the_outcome(client, store):
    seen = []

    def on_update(receipt):
        seen.append(receipt.payload["id"])
        return f"order {receipt.payload['id']} looked at"

    inbound.register("orders/updated", "test.on_update", on_update)
    try:
        body = b'{"id": 7}'
        post(client, store, body, signature=webhook_hmac(body, SECRET))
        [receipt] = receipts()

        assert inbound.process_receipt(store.merchant_id, receipt.pk) == WebhookStatus.PROCESSED
        assert inbound.process_receipt(store.merchant_id, receipt.pk) == WebhookStatus.PROCESSED
    finally:
        inbound.unregister("orders/updated", "test.on_update")
    assert seen == [7]
    [receipt] = receipts()
    # Every handler's outcome is recorded (orders' own says the order is not a mirror of ours).
    assert receipt.outcome.endswith("order 7 looked at") and receipt.processed_at is not None
    assert "not mirrored from Amazon" in receipt.outcome


def test_malformed_json_or_a_topic_we_never_asked_for_is_400_after_the_signature(client, store):
    bad_json = b"{not json"
    response = post(client, store, bad_json, signature=webhook_hmac(bad_json, SECRET))
    assert response.status_code == 400 and response.json()["code"] == "validation_error"
    body = b'{"id": 8}'
    response = post(client, store, body, signature=webhook_hmac(body, SECRET), topic="shop/update")
    assert response.status_code == 400 and response.json()["code"] == "unknown_topic"
    assert receipts() == []


def test_a_topic_nobody_handles_is_recorded_as_nothing_to_do(client, store):
    body = b'{"id": 8}'
    post(client, store, body, signature=webhook_hmac(body, SECRET), topic="orders/create")
    [receipt] = receipts()
    (name, handler), *_ = inbound.handlers_for("orders/create")
    inbound.unregister("orders/create", name)
    try:
        assert inbound.process_receipt(store.merchant_id, receipt.pk) == WebhookStatus.IGNORED
    finally:
        inbound.register("orders/create", name, handler)
    assert inbound.handlers_for("orders/create") == [(name, handler)]


@pytest.mark.django_db(transaction=True)
def test_a_fulfilment_made_in_the_store_admin_reaches_us_signed(
    live_server, settings, make_merchant
):
    """End to end: connecting subscribes the webhooks; the merchant fulfils in Shopify's admin;
    the emulator delivers the signed webhook to our live server, which records it."""
    settings.KEELSON_PUBLIC_URL = live_server.url
    merchant = make_merchant()
    with running_shopify_sandbox(throttling=False) as shopify:
        domain = shopify.store["domain"]
        connected = connect_store(
            merchant=merchant,
            shop_domain=domain,
            access_token=shopify.store["access_token"],
            webhook_secret=shopify.store["client_secret"],
            endpoint_override=shopify.base_url,
        )

        with tenant_context(merchant):
            message = OutboxMessage.objects.get(kind="shopify.subscribe_webhooks")
            deliver_due(message_id=message.pk)
        order = shopify.control.create_order(
            domain,
            {
                "lineItems": [
                    {
                        "sku": "SKU-1",
                        "title": "Mug",
                        "quantity": 1,
                        "priceSet": {"shopMoney": {"amount": "9.00", "currencyCode": "USD"}},
                    }
                ],
                "financialStatus": "PAID",
            },
        )
        shopify.control.fulfil(domain, order["id"], tracking={"company": "UPS", "number": "1Z9"})
        deadline = time.monotonic() + 30
        while not any(r.topic == "fulfillments/create" for r in receipts()):
            shopify.control.deliver_now()
            assert time.monotonic() < deadline, shopify.control.deliveries(store=domain)
            time.sleep(0.2)
    topics = {r.topic for r in receipts()}
    assert {"orders/create", "fulfillments/create"} <= topics
    assert all(r.store_id == connected.pk for r in receipts())


def test_a_receipt_whose_task_never_ran_is_processed_by_the_sweep(client, store):
    body = b'{"id": 9}'
    post(client, store, body, signature=webhook_hmac(body, SECRET), topic="orders/create")
    with system_context("test: age the receipt"):
        ShopifyWebhookReceipt.objects.update(received_at=timezone.now() - timedelta(minutes=5))

    assert inbound.sweep_received() == 1
    assert inbound.sweep_received() == 0
    [receipt] = receipts()
    assert receipt.status == WebhookStatus.PROCESSED
    assert "not mirrored from Amazon" in receipt.outcome
