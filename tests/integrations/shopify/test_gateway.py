"""The gateway with the real ShopifyAPI package over HTTP against the emulator: orders,
fulfillments, refunds, cancellations, webhooks subscriptions, throttling and error mapping."""

from __future__ import annotations

import json
import socket
import time
from decimal import Decimal

import pytest
import shopify

from integrations.outbox.errors import PermanentDeliveryError, TransientDeliveryError
from integrations.shopify.errors import (
    AuthFailed,
    ShopifyUserErrors,
    StoreUnavailable,
    Throttled,
    TransientShopifyError,
)
from integrations.shopify.gateway import ShopifyCredentials, ShopifyGateway, make_session
from integrations.shopify.records import (
    LineQuantity,
    NewOrder,
    NewOrderLine,
    RefundLine,
    RefundRequest,
    ShopifyAddress,
    TrackingInfo,
)
from integrations.shopify.webhooks import verify_webhook_hmac
from sandbox.shopify.models import ShopifyOrder as EmulatedOrder
from tests.integrations.shopify.conftest import credentials_for
from tests.sandbox.shopify.helpers import Receiver

pytestmark = pytest.mark.django_db(transaction=True)


def amazon_order(amazon_order_id: str = "114-1234567-1234567", **extra) -> NewOrder:
    fields = {
        "source_identifier": amazon_order_id,
        "currency": "USD",
        "lines": (
            NewOrderLine("SKU-A", "Widget", 2, Decimal("10.00")),
            NewOrderLine("SKU-B", "Gadget", 1, Decimal("5.50")),
        ),
        "shipping_amount": Decimal("4.00"),
        "email": "buyer@marketplace.amazon.com",
        "shipping_address": ShopifyAddress(
            first_name="Jane",
            last_name="Doe",
            address1="1 Main St",
            city="Seattle",
            province_code="WA",
            zip="98101",
            country_code="US",
        ),
    }
    fields.update(extra)
    return NewOrder(**fields)


def test_the_session_points_at_the_emulator_by_configuration_alone(shopify_sandbox, gateway):
    session = make_session(gateway.credentials)
    assert session.site == f"{shopify_sandbox.base_url}/admin/api/2025-07"
    shop = gateway.get_shop()
    assert (shop.name, shop.domain, shop.currency) == (
        "Keelson Test Store",
        "keelson-test.myshopify.com",
        "USD",
    )
    # no session outlives the call
    assert shopify.ShopifyResource.get_site() is None


def test_a_real_store_keeps_https_and_myshopify_com():
    session = make_session(ShopifyCredentials("acme.myshopify.com", "shpat_x", "2025-07"))
    assert session.site == "https://acme.myshopify.com/admin/api/2025-07"


def test_a_created_order_is_found_by_its_source_identifier(shopify_sandbox, gateway):
    assert gateway.find_order_by_source_identifier("114-1234567-1234567") is None
    order_id = gateway.create_order(amazon_order(tags=("amazon", "prime")))
    found = gateway.find_order_by_source_identifier("114-1234567-1234567")
    assert found is not None and found.id == order_id
    assert found.source_name == "amazon" and set(found.tags) == {"amazon", "prime"}
    assert found.financial_status == "PAID"
    assert found.total_price.amount == Decimal("29.50")
    assert [(li.sku, li.quantity) for li in found.line_items] == [("SKU-A", 2), ("SKU-B", 1)]
    # the buyer is never notified (R4), inventory as chosen
    emulated = EmulatedOrder.objects.get(pk=found.legacy_id)
    assert emulated.send_receipt is False and emulated.send_fulfillment_receipt is False
    assert emulated.inventory_behaviour == "BYPASS"
    assert gateway.find_order_by_source_identifier("114-0000000-0000000") is None


def test_list_orders_returns_what_changed_after_a_moment(shopify_sandbox, gateway):
    first = gateway.create_order(amazon_order("114-0000000-0000001"))
    second = gateway.create_order(amazon_order("114-0000000-0000002"))
    page = gateway.list_orders(first=1)
    assert len(page.orders) == 1 and page.has_next_page
    rest = gateway.list_orders(after=page.end_cursor, first=10)
    assert len(rest.orders) == 1 and not rest.has_next_page
    # After both were made (a busy machine may put them a second apart).
    moment = max(gateway.get_order(first).updated_at, gateway.get_order(second).updated_at)
    shopify_sandbox.control.advance_clock(seconds=10)
    gateway.create_fulfillment(first, None)
    changed = gateway.list_orders(moment)
    assert [o.id for o in changed.orders] == [first]
    assert changed.orders[0].line_items is None  # a summary


def test_create_fulfillment_by_sku_with_tracking(shopify_sandbox, gateway):
    order_id = gateway.create_order(amazon_order())
    tracking = TrackingInfo("UPS", "1Z999AA10123456784", "https://ups.example/1Z999")
    gateway.create_fulfillment(order_id, [LineQuantity("SKU-A", 1)], tracking)
    order = gateway.get_order(order_id)
    assert order.fulfillment_status == "PARTIALLY_FULFILLED"
    [fulfillment] = order.fulfillments
    assert fulfillment.tracking[0].company == "UPS"
    assert fulfillment.tracking[0].number == "1Z999AA10123456784"
    assert [(li.sku, li.quantity) for li in fulfillment.lines] == [("SKU-A", 1)]
    gateway.create_fulfillment(order_id, None)  # the rest
    assert gateway.get_order(order_id).fulfillment_status == "FULFILLED"
    assert (
        EmulatedOrder.objects.get(pk=order.legacy_id)
        .fulfillments.filter(notify_customer=True)
        .count()
        == 0
    )


def test_fulfilling_more_than_remains_raises_user_errors(gateway):
    order_id = gateway.create_order(amazon_order())
    with pytest.raises(ShopifyUserErrors) as excinfo:
        gateway.create_fulfillment(order_id, [LineQuantity("SKU-B", 2)])
    assert isinstance(excinfo.value, PermanentDeliveryError)
    assert "1 remain" in excinfo.value.user_errors[0].message


def test_create_refund_of_a_line_and_shipping(gateway):
    order_id = gateway.create_order(amazon_order())
    refund_id = gateway.create_refund(
        order_id,
        RefundRequest(
            lines=(RefundLine("SKU-B", 1, "NO_RESTOCK"),),
            amount=Decimal("9.50"),
            shipping_amount=Decimal("4.00"),
            note="Refunded in Keelson",
        ),
    )
    order = gateway.get_order(order_id)
    [refund] = order.refunds
    assert refund.id == refund_id and refund.total.amount == Decimal("9.50")
    assert [(line.sku, line.quantity) for line in refund.lines] == [("SKU-B", 1)]
    assert order.financial_status == "PARTIALLY_REFUNDED"
    refund_tx = [t for t in order.transactions if t.kind == "REFUND"]
    assert refund_tx[0].gateway == "amazon"


def test_refunding_more_than_was_paid_raises_shopifys_user_errors(gateway):
    order_id = gateway.create_order(amazon_order())
    with pytest.raises(ShopifyUserErrors) as excinfo:
        gateway.create_refund(order_id, RefundRequest(amount=Decimal("100.00")))
    [error] = excinfo.value.user_errors
    assert error.field == ("transactions",)
    assert "greater than the net payment" in error.message
    assert excinfo.value.operation == "refundCreate"


def test_cancel_order_refunds_and_restocks(gateway):
    order_id = gateway.create_order(amazon_order())
    gateway.cancel_order(order_id, reason="CUSTOMER", refund=True, restock=True)
    order = gateway.get_order(order_id)
    assert order.cancelled_at is not None and order.cancel_reason == "CUSTOMER"
    assert order.financial_status == "REFUNDED"
    with pytest.raises(ShopifyUserErrors) as excinfo:
        gateway.cancel_order(order_id)
    assert excinfo.value.user_errors[0].code == "INVALID"


def test_ensure_webhook_subscriptions_is_idempotent(shopify_sandbox, gateway):
    url = "http://127.0.0.1:9/webhooks/shopify/1/"
    first = gateway.ensure_webhook_subscriptions(url, ["ORDERS_CREATE", "FULFILLMENTS_CREATE"])
    assert {s.topic for s in first} == {"ORDERS_CREATE", "FULFILLMENTS_CREATE"}
    again = gateway.ensure_webhook_subscriptions(
        url, ["ORDERS_CREATE", "FULFILLMENTS_CREATE", "REFUNDS_CREATE"]
    )
    assert {s.topic for s in again} == {"ORDERS_CREATE", "FULFILLMENTS_CREATE", "REFUNDS_CREATE"}
    subscriptions = shopify_sandbox.control.webhook_subscriptions(shopify_sandbox.store["domain"])
    assert len(subscriptions) == 3


def test_a_throttled_call_waits_for_the_missing_points_and_succeeds(shopify_sandbox):
    control, domain = shopify_sandbox.control, shopify_sandbox.store["domain"]
    control.freeze_buckets(True)  # the bucket's time moves only when the gateway "sleeps"
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        control.advance_clock(seconds=seconds)

    gateway = ShopifyGateway(credentials_for(shopify_sandbox), sleep=sleep)
    control.set_throttle(domain, currently_available=0)
    shop = gateway.get_shop()  # costs 1: waits 1 / 100 s
    assert shop.domain == domain
    assert waits == [pytest.approx(0.01)]
    control.set_throttle(domain, currently_available=20)
    order_id = gateway.create_order(amazon_order())  # a mutation costs 10: no wait
    assert len(waits) == 1
    control.set_throttle(domain, currently_available=10)
    order = gateway.get_order(order_id)
    requested = gateway.last_cost["requestedQueryCost"]
    assert order.id == order_id
    assert waits[1] == pytest.approx((requested - 10) / 100)


def test_throttling_that_outlasts_the_bounded_waits_raises_throttled(shopify_sandbox):
    control = shopify_sandbox.control
    control.inject_fault("throttle", count=10)
    waits: list[float] = []
    gateway = ShopifyGateway(
        credentials_for(shopify_sandbox), max_throttle_retries=2, sleep=waits.append
    )
    with pytest.raises(Throttled) as excinfo:
        gateway.get_shop()
    assert isinstance(excinfo.value, TransientDeliveryError)
    assert len(waits) == 2 and excinfo.value.retry_after == pytest.approx(0.01)


def test_an_unknown_token_raises_auth_failed(shopify_sandbox):
    gateway = ShopifyGateway(credentials_for(shopify_sandbox, access_token="shpat_revoked"))
    with pytest.raises(AuthFailed) as excinfo:
        gateway.get_shop()
    assert excinfo.value.status == 401
    assert isinstance(excinfo.value, PermanentDeliveryError)


@pytest.mark.parametrize(("kind", "status"), [("payment_required", 402), ("locked", 423)])
def test_a_frozen_or_locked_store_raises_store_unavailable(shopify_sandbox, gateway, kind, status):
    shopify_sandbox.control.inject_fault(kind, count=1)
    with pytest.raises(StoreUnavailable) as excinfo:
        gateway.get_shop()
    assert excinfo.value.status == status


def test_a_5xx_is_transient_and_not_retried_by_the_gateway(shopify_sandbox, gateway):
    shopify_sandbox.control.inject_fault("error_503", count=1)
    with pytest.raises(TransientShopifyError) as excinfo:
        gateway.create_order(amazon_order())
    assert excinfo.value.status == 503
    assert isinstance(excinfo.value, TransientDeliveryError)
    assert gateway.find_order_by_source_identifier("114-1234567-1234567") is None


def test_an_unreachable_endpoint_is_transient(shopify_sandbox):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = ShopifyGateway(credentials_for(shopify_sandbox, endpoint=f"http://127.0.0.1:{port}"))
    with pytest.raises(TransientShopifyError):
        gateway.get_shop()


def test_verify_webhook_hmac_accepts_the_emulators_signature_and_rejects_a_tampered_body(
    shopify_sandbox, gateway
):
    secret = shopify_sandbox.store["client_secret"]
    with Receiver() as receiver:
        gateway.ensure_webhook_subscriptions(receiver.url, ["ORDERS_CREATE"])
        gateway.create_order(amazon_order())
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
    [hook] = receiver.received
    body, header = hook["body"], hook["headers"]["X-Shopify-Hmac-Sha256"]
    assert verify_webhook_hmac(body, header, secret)
    assert json.loads(body)["source_identifier"] == "114-1234567-1234567"
    tampered = body.replace(b"114-1234567-1234567", b"114-1234567-1234568")
    assert not verify_webhook_hmac(tampered, header, secret)
    assert not verify_webhook_hmac(body, header, "shpss_wrong_secret")
    assert not verify_webhook_hmac(body, None, secret)
    assert not verify_webhook_hmac(body, "", secret)


def test_two_stores_called_from_many_threads_never_see_each_others_session(shopify_sandbox):
    from concurrent.futures import ThreadPoolExecutor

    other = shopify_sandbox.control.create_store(domain="keelson-other.myshopify.com")
    gateways = {
        shopify_sandbox.store["domain"]: ShopifyGateway(credentials_for(shopify_sandbox)),
        other["domain"]: ShopifyGateway(
            credentials_for(
                shopify_sandbox,
                shop_domain=other["domain"],
                access_token=other["access_token"],
            )
        ),
    }
    calls = [domain for _ in range(10) for domain in gateways]
    with ThreadPoolExecutor(max_workers=8) as pool:
        seen = list(pool.map(lambda domain: gateways[domain].get_shop().domain, calls))
    assert seen == calls
