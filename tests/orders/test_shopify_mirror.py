"""Mirror out, orders (issue 12; R1, R4): each Amazon order of a merchant with a connected
Shopify store is created once in the store, sourced and tagged as Amazon, the buyer never
notified. The real ShopifyAPI client over HTTP against the Shopify emulator, the outbox's real
delivery, the Amazon orders imported from the SP-API emulator as the sync does."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.test import Client

from integrations.models import WebhookStatus
from integrations.outbox.models import OutboxStatus
from integrations.outbox.registry import handler_for
from integrations.shopify.connections import connect_store
from notifications.models import Notification
from orders import announcements
from orders.models import EventKind, OrderEvent, ShopifyState
from orders.shopify_mirror import CREATE_ORDER_KIND
from orders.tasks import reconcile_shopify_mirrors
from tenants.models import AccountStatus, Role, ShopifyStore
from tenants.scope import tenant_context
from tests.support.shopify_mirror import running_mirror
from tests.support.shopify_webhooks import receive, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_mirror_subscribes_to_order_changes_inside_the_upserts_transaction_R1():
    assert " 300 in_transaction orders.mirror_to_shopify (R1)" in announcements.describe()
    assert handler_for(CREATE_ORDER_KIND).destination == "Shopify"


def test_an_amazon_order_is_created_once_in_shopify_and_never_notifies_the_buyer_R4(
    make_merchant,
):
    with running_mirror(make_merchant) as mirror:
        order = mirror.place()
        assert mirror.fresh(order).shopify_state == ShopifyState.PENDING
        (message,) = mirror.messages(CREATE_ORDER_KIND)
        mirror.deliver()

        (created,) = mirror.store_orders()
        assert created.source_name == "amazon"
        assert created.source_identifier == order.external_id
        assert "amazon" in created.tags and "Amazon.com" in created.tags
        # R4: no receipt, no fulfillment receipt, and not even the buyer's (relay) address.
        assert created.send_receipt is False and created.send_fulfillment_receipt is False
        assert created.email == ""
        assert created.inventory_behaviour == "BYPASS"  # the store's default setting
        # Amazon charged it: one paid transaction for what the buyer paid (tax included).
        (sale,) = created.transactions.all()
        assert (sale.kind, sale.status, sale.gateway) == ("SALE", "SUCCESS", "amazon")
        assert sale.amount == Decimal("48.20") == order.total_amount
        (line,) = created.line_items.all()
        assert (line.sku, line.quantity, line.unit_price) == ("TENT-2P", 2, Decimal("21.60"))

        order = mirror.fresh(order)
        assert order.shopify_state == ShopifyState.SYNCED
        assert order.shopify_order_id == f"gid://shopify/Order/{created.pk}"
        assert order.shopify_order_name == created.name
        assert order.shopify_admin_url == (f"https://{mirror.domain}/admin/orders/{created.pk}")
        assert mirror.fresh(message).status == OutboxStatus.SENT
        with tenant_context(mirror.merchant):
            texts = list(
                OrderEvent.objects.filter(order=order, kind=EventKind.OUTBOX).values_list(
                    "message", flat=True
                )
            )
        assert any("Mirrored to the Shopify store" in t and "not notified" in t for t in texts)

        # The next sync page sees the order again (a later change): no second message, no
        # second Shopify order.
        mirror.reimport(order)
        mirror.deliver()
        assert len(mirror.messages(CREATE_ORDER_KIND)) == 1
        assert len(mirror.store_orders()) == 1


def test_delivering_the_same_message_twice_makes_one_shopify_order_R1(make_merchant):
    with running_mirror(make_merchant) as mirror:
        order = mirror.place()
        mirror.deliver()
        (message,) = mirror.messages(CREATE_ORDER_KIND)
        # A second worker whose lease expired, or a person's retry: the message is sent again.
        with tenant_context(mirror.merchant):
            message.refresh_from_db()
            message.status = OutboxStatus.PENDING
            message.save(update_fields=["status"])
        mirror.deliver_once()
        assert len(mirror.store_orders()) == 1
        message = mirror.fresh(message)
        assert message.status == OutboxStatus.SENT
        assert message.result["found_existing"] is True
        assert mirror.fresh(order).shopify_state == ShopifyState.SYNCED


def test_an_attempt_that_timed_out_after_shopify_created_the_order_makes_no_second_one(
    make_merchant, settings
):
    settings.KEELSON_SHOPIFY_TIMEOUT = 0.5
    with running_mirror(make_merchant) as mirror:
        order = mirror.place()
        # Shopify is slow to answer the mutation: our call times out, Shopify goes on and
        # creates the order after we gave up.
        mirror.shopify.control.inject_fault(
            "latency", count=1, latency_ms=1500, operations=["mutation"]
        )
        mirror.deliver_once()
        (message,) = mirror.messages(CREATE_ORDER_KIND)
        message = mirror.fresh(message)
        assert message.status == OutboxStatus.PENDING  # transient: retried with back-off
        assert message.last_error_code in {"shopify_network_error", "shopify_unreachable"}
        assert mirror.fresh(order).shopify_state == ShopifyState.PENDING
        deadline = time.monotonic() + 10
        while not mirror.store_orders() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(mirror.store_orders()) == 1  # Shopify did create it

        mirror.deliver()
        (created,) = mirror.store_orders()  # still one
        order = mirror.fresh(order)
        assert order.shopify_state == ShopifyState.SYNCED
        assert order.shopify_order_id == f"gid://shopify/Order/{created.pk}"
        assert mirror.fresh(message).result["found_existing"] is True


def test_a_throttled_mirror_waits_for_the_restored_points_and_succeeds(make_merchant):
    with running_mirror(make_merchant, throttling=True) as mirror:
        # The bucket is empty and restores slowly: the gateway waits for the missing points
        # (read from throttleStatus), then sends; the outbox needs no second attempt.
        order = mirror.place()
        mirror.shopify.control.set_throttle(mirror.domain, currently_available=0, restore_rate=20)
        started = time.monotonic()
        mirror.deliver_once()
        # The look-up (7 points) and orderCreate (10) each waited for points at 20/s.
        assert time.monotonic() - started >= 0.3
        (message,) = mirror.messages(CREATE_ORDER_KIND)
        message = mirror.fresh(message)
        assert (message.status, message.attempts) == (OutboxStatus.SENT, 1)
        assert len(mirror.store_orders()) == 1
        assert mirror.fresh(order).shopify_state == ShopifyState.SYNCED


def test_a_revoked_token_fails_the_mirror_permanently_in_plain_words(make_merchant):
    with running_mirror(make_merchant) as mirror:
        order = mirror.place()
        mirror.shopify.control.inject_fault("unauthorized", count=5)
        mirror.deliver_once()
        (message,) = mirror.messages(CREATE_ORDER_KIND)
        message = mirror.fresh(message)
        assert message.status == OutboxStatus.FAILED  # permanent: at the first attempt
        assert message.attempts == 1
        order = mirror.fresh(order)
        assert order.shopify_state == ShopifyState.FAILED
        assert "refused Keelson's access token" in order.shopify_last_error
        assert "Reconnect the store" in order.shopify_last_error
        assert message.last_error == order.shopify_last_error
        assert mirror.store_orders() == []


def test_a_merchant_without_a_store_enqueues_nothing(make_merchant):
    with running_mirror(make_merchant, with_store=False) as mirror:
        order = mirror.place()
        assert mirror.messages(CREATE_ORDER_KIND) == []
        assert mirror.fresh(order).shopify_state == ShopifyState.NOT_APPLICABLE


def test_the_merchants_inventory_setting_is_what_shopify_is_told(make_merchant):
    with running_mirror(make_merchant, inventory_behaviour="DECREMENT_OBEYING_POLICY") as mirror:
        mirror.place()
        mirror.deliver()
        (created,) = mirror.store_orders()
        assert created.inventory_behaviour == "DECREMENT_OBEYING_POLICY"


def test_a_failed_mirror_shows_in_the_api_the_order_page_and_the_outbox_list_and_retries(
    make_merchant, make_user, make_api_key, call
):
    with running_mirror(make_merchant) as mirror:
        order = mirror.place()
        mirror.shopify.control.inject_fault("unauthorized", count=1)
        mirror.deliver_once()
        key = make_api_key(merchant=mirror.merchant)

        detail = call("get", f"/api/v1/orders/{order.pk}/", key=key).json()
        assert detail["shopify"]["state"] == "failed"
        assert detail["shopify"]["id"] is None
        assert "refused Keelson's access token" in detail["shopify"]["last_error"]

        client = Client()
        client.force_login(make_user(role=Role.MERCHANT_ADMIN, merchant=mirror.merchant))
        page = client.get(f"/orders/order/{order.pk}/change/").content.decode()
        assert 'data-shopify-state="failed"' in page
        assert "Retry it from the outbox" in page
        listing = client.get("/integrations/outboxmessage/", {"status__exact": "failed"})
        with tenant_context(mirror.merchant):  # the page's rows, read in the merchant's scope
            (failed,) = list(listing.context["cl"].result_list)
        assert failed.kind == CREATE_ORDER_KIND
        assert "Shopify" in listing.content.decode()

        # The refused token paused the store: a retry alone is refused again, in plain words.
        response = client.post(
            "/integrations/outboxmessage/",
            {"action": "retry_failed", "_selected_action": [failed.pk]},
        )
        assert response.status_code == 302
        mirror.deliver()
        assert mirror.store_orders() == []
        assert (
            "nothing is written to it until it is connected again"
            in mirror.fresh(failed).last_error
        )
        # Reconnected with a working token: what waited is sent.
        connect_store(
            merchant=mirror.merchant,
            shop_domain=mirror.domain,
            access_token=mirror.shopify.store["access_token"],
            webhook_secret=mirror.shopify.store["client_secret"],
            endpoint_override=mirror.shopify.base_url,
        )
        mirror.deliver(kinds=(CREATE_ORDER_KIND,))
        (created,) = mirror.store_orders()
        detail = call("get", f"/api/v1/orders/{order.pk}/", key=key).json()
        assert detail["shopify"] == {
            "id": f"gid://shopify/Order/{created.pk}",
            "name": created.name,
            "admin_url": f"https://{mirror.domain}/admin/orders/{created.pk}",
            "state": "synced",
            "last_error": None,
        }
        page = client.get(f"/orders/order/{order.pk}/change/").content.decode()
        assert 'data-shopify-state="synced"' in page and created.name in page


def test_a_pending_order_is_mirrored_only_once_amazon_verified_it_A1_A2(make_merchant):
    with running_mirror(make_merchant) as mirror:
        now = mirror.amazon.control.now()
        order = mirror.place(purchase_date=now.replace("+00:00", "Z"))
        assert mirror.fresh(order).status == "Pending"
        # A1: Amazon may still cancel it without a charge: nothing goes to Shopify yet.
        assert mirror.messages(CREATE_ORDER_KIND) == []
        assert mirror.fresh(order).shopify_state == ShopifyState.NOT_APPLICABLE

        mirror.amazon.control.advance_clock(minutes=31)
        order = mirror.reimport(order)
        assert order.status == "Unshipped"
        assert len(mirror.messages(CREATE_ORDER_KIND)) == 1
        mirror.deliver()
        (created,) = mirror.store_orders()
        assert created.source_identifier == order.external_id


def test_the_merchant_chooses_the_inventory_behaviour_on_the_stores_portal_page(
    make_merchant, make_user
):
    with running_mirror(make_merchant) as mirror:
        client = Client()
        client.force_login(make_user(role=Role.MERCHANT_ADMIN, merchant=mirror.merchant))
        url = f"/tenants/shopifystore/{mirror.store.pk}/change/"
        page = client.get(url)
        assert page.status_code == 200
        form = page.context["adminform"].form
        assert form["inventory_behaviour"].value() == "BYPASS"
        data = {
            name: ("" if value is None else value)
            for name, value in ((f, form[f].value()) for f in form.fields)
        }
        data["inventory_behaviour"] = "DECREMENT_IGNORING_POLICY"
        response = client.post(url, data)
        assert response.status_code == 302, response.content.decode()[:2000]
        assert mirror.fresh(mirror.store).inventory_behaviour == "DECREMENT_IGNORING_POLICY"
        mirror.place()
        mirror.deliver()
        (created,) = mirror.store_orders()
        assert created.inventory_behaviour == "DECREMENT_IGNORING_POLICY"


def test_a_revoked_token_pauses_the_store_tells_the_merchant_once_and_reconnecting_resumes(
    make_merchant,
):
    """Bad input and faults (issue 12): a 401 from Shopify pauses the mirror for that store and
    notifies the merchant; orders keep being queued meanwhile; nothing is lost: reconnecting
    with a working token writes what waited."""
    with running_mirror(make_merchant) as mirror:
        first = mirror.place()
        mirror.shopify.control.inject_fault("unauthorized", count=1)
        mirror.deliver_once()
        with tenant_context(mirror.merchant):
            store = ShopifyStore.objects.get()
            assert store.status == AccountStatus.AUTH_FAILED
            (notice,) = Notification.objects.filter(title__startswith="Reconnect your Shopify")
            assert "Nothing is lost" in notice.body

        second = mirror.place()  # arrives while the store is paused
        mirror.deliver_once()
        assert mirror.fresh(second).shopify_state == ShopifyState.FAILED
        with tenant_context(mirror.merchant):
            assert Notification.objects.filter(title__startswith="Reconnect").count() == 1
        assert mirror.store_orders() == []

        connect_store(
            merchant=mirror.merchant,
            shop_domain=mirror.domain,
            access_token=mirror.shopify.store["access_token"],
            webhook_secret=mirror.shopify.store["client_secret"],
            endpoint_override=mirror.shopify.base_url,
        )
        mirror.deliver(kinds=(CREATE_ORDER_KIND,))

        assert {o.source_identifier for o in mirror.store_orders()} == {
            first.external_id,
            second.external_id,
        }
        assert mirror.fresh(first).shopify_state == ShopifyState.SYNCED
        assert mirror.fresh(second).shopify_state == ShopifyState.SYNCED


def test_orders_placed_before_the_store_was_connected_are_mirrored_by_the_reconcile(
    make_merchant,
):
    """Reconcile (issue 12): what no announcement queued (orders imported before the store was
    connected) is queued by the scheduled task, once each, and mirrored."""
    with running_mirror(make_merchant, with_store=False) as mirror:
        before = mirror.place()
        assert mirror.fresh(before).shopify_state == ShopifyState.NOT_APPLICABLE
        connect_store(
            merchant=mirror.merchant,
            shop_domain=mirror.domain,
            access_token=mirror.shopify.store["access_token"],
            webhook_secret=mirror.shopify.store["client_secret"],
            endpoint_override=mirror.shopify.base_url,
        )

        first = reconcile_shopify_mirrors()
        again = reconcile_shopify_mirrors()
        mirror.deliver(kinds=(CREATE_ORDER_KIND,))

        assert first["queued"] == {mirror.merchant.pk: {"orders": 1}}
        assert again["queued"] == {}
        assert [o.source_identifier for o in mirror.store_orders()] == [before.external_id]
        assert mirror.fresh(before).shopify_state == ShopifyState.SYNCED


def test_order_webhooks_say_whether_the_order_is_our_mirror_and_change_nothing(
    make_merchant, live_server, settings
):
    """orders/create and orders/updated: Amazon is the record of a mirrored order, and an order
    made in the store stays Shopify's; each receipt says which it was (never a silent drop)."""
    with running_mirror(make_merchant) as mirror:
        subscribe(mirror, live_server, settings)
        order = mirror.place()
        mirror.deliver()
        ours = receive(mirror, "orders/create")
        mirror.shopify.control.create_order(
            mirror.domain,
            {
                "lineItems": [
                    {
                        "sku": "MUG-1",
                        "title": "Mug",
                        "quantity": 1,
                        "priceSet": {"shopMoney": {"amount": "9.00", "currencyCode": "USD"}},
                    }
                ],
            },
        )
        deadline = time.monotonic() + 30
        while len(receipts := receive(mirror, "orders/create")) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)

        (first, native) = receipts
        assert [r.pk for r in ours] == [first.pk]
        assert first.status == WebhookStatus.PROCESSED
        assert f"Keelson's mirror of Amazon order {order.external_id}" in first.outcome
        assert native.status == WebhookStatus.PROCESSED
        assert "made in the store, not mirrored from Amazon" in native.outcome
        assert mirror.fresh(order).shopify_state == ShopifyState.SYNCED
