"""The portal's order page: notices (R2, A1/A2), fulfillment orders with the actions the rules
allow now (disabled with the reason, or absent), each calling a service; the timeline with both
sides' messages; the bulk shipment confirmation (A7)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from fulfillment import services
from fulfillment.models import Fulfillment
from portal.tasks import run_bulk_job
from tenants.models import Role
from tenants.scope import tenant_context
from tests.fulfillment.conftest import SHIPMENT

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_client_for(make_user):
    def make(shop, role=Role.MERCHANT_ADMIN) -> Client:
        client = Client()
        client.force_login(make_user(role, merchant=shop.merchant))
        return client

    return make


def order_page(client, order) -> str:
    response = client.get(f"/orders/order/{order.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def form_for(html: str, action: str) -> str:
    match = re.search(rf'<form[^>]*data-action="{action}".*?</form>', html, re.S)
    assert match, f"no {action} form"
    return match.group(0)


def disabled(form: str) -> bool:
    return bool(re.search(r"<button[^>]*\sdisabled\s", form))


def test_the_order_page_reminds_of_buyer_messages_and_offers_the_request_R2_F1(
    shop, admin_client_for
):
    order = shop.order()
    client = admin_client_for(shop)
    html = order_page(client, order)
    assert "Check buyer messages in Seller Central" in html
    assert order.seller_central_url in html
    submit = form_for(html, "submit_request")
    assert 'data-allowed="true"' in submit and not disabled(submit)
    assert 'data-action="accept_request"' not in html  # the service's, never the merchant's

    fo = shop.fo(order)
    response = client.post(
        f"/fulfillment/fulfillmentorder/{fo.pk}/act/submit_request/", {"note": "From the portal"}
    )
    assert response.status_code == 302
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor, message="On our way")
    shop.run(services.add_note, fo.pk, actor=shop.service_actor, message="Packed in blue")

    html = order_page(client, order)
    assert 'data-request-status="accepted"' in html
    assert "From the portal" in html and "On our way" in html and "Packed in blue" in html
    assert 'data-actor-type="fulfillment_service"' in html and 'data-actor-type="user"' in html
    # F11: marking fulfilled is refused while the request is in progress, with the reason.
    mark = form_for(html, "mark_fulfilled")
    assert disabled(mark) and "cancel it first" in mark


def test_a_pending_order_says_why_nothing_can_be_done_A1(shop, admin_client_for):
    order = shop.order(status="Pending", purchase_date=timezone.now() - timedelta(minutes=5))
    html = order_page(admin_client_for(shop), order)
    assert 'data-rule="A1"' in html and "the buyer may cancel until" in html
    submit = form_for(html, "submit_request")
    assert disabled(submit)
    assert "On hold while Amazon verifies the order" in html


def test_a_legacy_request_shows_cancel_disabled_with_the_reason_F4(legacy_shop, admin_client_for):
    order = legacy_shop.order()
    fo = legacy_shop.fo(order)
    legacy_shop.run(services.submit_request, fo.pk, actor=legacy_shop.merchant_actor)
    client = admin_client_for(legacy_shop)
    cancel = form_for(order_page(client, order), "cancel_request")
    assert 'data-allowed="false"' in cancel and "Contact" in cancel

    client.post(f"/fulfillment/fulfillmentorder/{fo.pk}/act/cancel_request/")
    assert legacy_shop.fo(order).request_status == "submitted"  # refused by the service


def test_revert_needs_the_confirmation_box_F10(shop, admin_client_for):
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    client = admin_client_for(shop)
    url = f"/fulfillment/fulfillmentorder/{fo.pk}/act/revert_to_unfulfilled/"
    client.post(url)
    assert shop.fo(order).request_status == "submitted"
    response = client.post(url, {"confirmed": "on"}, follow=True)
    assert "Check your inventory" in response.content.decode()
    assert shop.run(lambda: shop.fo(order).request_status) == "unsubmitted"  # a fresh one


def test_viewers_see_the_actions_disabled_and_cannot_post_them(shop, admin_client_for):
    order = shop.order()
    fo = shop.fo(order)
    viewer = admin_client_for(shop, Role.MERCHANT_VIEWER)
    html = order_page(viewer, order)
    assert "read-only" in form_for(html, "submit_request")
    viewer.post(f"/fulfillment/fulfillmentorder/{fo.pk}/act/submit_request/")
    assert shop.fo(order).request_status == "unsubmitted"


def test_mark_as_fulfilled_from_the_portal_suppresses_the_buyer_notification_F11_R4(
    shop, admin_client_for
):
    order = shop.order()
    client = admin_client_for(shop)
    response = client.post(
        f"/orders/order/{order.pk}/mark-fulfilled/",
        {"tracking_number": "1ZPORTAL", "carrier": "UPS", "notify_customer": "on"},
        follow=True,
    )
    assert "No notification was sent to the buyer" in response.content.decode()
    with tenant_context(shop.merchant):
        fulfillment = Fulfillment.objects.get(order=order)
    assert fulfillment.notify_customer and not fulfillment.customer_notified


def test_the_list_filters_by_fulfillment_and_finds_by_sku(shop, admin_client_for):
    done = shop.order(lines=(("FIND-ME", 1, "5.00"),))
    shop.run(services.fulfil_order, done.pk, actor=shop.merchant_actor, shipment=SHIPMENT)
    waiting = shop.order()
    client = admin_client_for(shop)

    def listed(query):
        return {o.pk for o in client.get("/orders/order/", query).context["cl"].result_list}

    assert listed({"fulfillment_status__exact": "fulfilled"}) == {done.pk}
    assert listed({"fulfillment_status__exact": "unfulfilled"}) == {waiting.pk}
    assert listed({"q": "FIND-ME"}) == {done.pk}
    # No Amazon account on these orders: their confirmation failed, and the filter shows it.
    assert listed({"amazon_confirmation": "failed"}) == {done.pk}


def test_the_bulk_confirmation_asks_for_tracking_then_fulfils_and_queues_A7(
    shop, admin_client_for, make_amazon_account
):
    account = make_amazon_account(shop.merchant)
    orders = [shop.order(amazon_account=account) for _ in range(3)]
    client = admin_client_for(shop)
    selected = {"action": "confirm_shipments_on_amazon", "_selected_action": [o.pk for o in orders]}
    page = client.post("/orders/order/", selected)
    assert page.status_code == 200
    assert 'name="tracking_number"' in page.content.decode()

    # The confirmation runs as a background job (portal/bulk_jobs.py, its own tests in
    # tests/portal/test_bulk_jobs.py): the action leads to the job's page; a worker runs it.
    started = client.post(
        "/orders/order/",
        {**selected, "apply": "yes", "tracking_number": "1ZBULK", "carrier": "UPS"},
    )
    assert started.status_code == 302 and "/orders/order/jobs/" in started["Location"]
    job_id = int(started["Location"].rstrip("/").rsplit("/", 1)[1])
    run_bulk_job(job_id)
    text = client.get(started["Location"]).content.decode()
    assert "3 done, 0 refused, of 3 orders." in text
    assert text.count("Fulfilled and queued for confirmation on Amazon.") == 3
    with tenant_context(shop.merchant):
        assert set(
            Fulfillment.objects.filter(order__in=orders).values_list(
                "amazon_confirmation", flat=True
            )
        ) == {"pending"}
