"""The portal's refunds: the order page's section (balance, refunds with status, sync states
and failures in plain words, the actions the rules allow), the refund form (per-line quantities,
shipping, the suggested amount), the cancel dialog with Amazon's reasons, the buyer's request
(cancel as requested, or decline), "Send to Amazon now" for what was held (R8), and the A4
card on the dashboard."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from refunds import services
from refunds.models import Refund
from tenants.models import AccountStatus, AmazonAccount, Role
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def browser(shop, make_user):
    def make(role=Role.MERCHANT_ADMIN) -> Client:
        client = Client()
        client.force_login(make_user(role, merchant=shop.merchant))
        return client

    return make


def page(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def order_page(client, order) -> str:
    return page(client, f"/orders/order/{order.pk}/change/")


def section(html: str) -> str:
    match = re.search(r'<section id="refunds".*?</section>', html, re.S)
    assert match, "no refunds section"
    return match.group(0)


def refunds_of(shop, order) -> list[Refund]:
    with tenant_context(shop.merchant):
        return list(Refund.objects.filter(order=order).order_by("id"))


def test_the_order_page_offers_a_refund_with_the_balance_and_the_form_refunds(shop, browser):
    order = shop.order([("TENT", 2, "50.00", 2, {"shipping_price": "6.00"})])
    (line,) = shop.lines(order)
    client = browser()
    html = section(order_page(client, order))
    # Money in the reader's conventions (English: $56.00; foundation.i18n.format_money).
    assert "left to refund <strong data-balance>$56.00</strong>" in html
    assert f'href="/refunds/refund/order/{order.pk}/new/"' in html
    assert "No refund yet." in html

    form = page(client, f"/refunds/refund/order/{order.pk}/new/")
    assert "$25.00" in form  # the suggested price each
    assert "up to $6.00" in form and "$56.00" in form
    token = re.search(r'name="token" value="([0-9a-f]+)"', form).group(1)
    data = {
        f"quantity_{line.pk}": "1",
        "shipping_amount": "2.00",
        "reason": "CustomerReturn",
        "note": "Torn",
        "token": token,
    }
    response = client.post(f"/refunds/refund/order/{order.pk}/new/", data)
    assert response.status_code == 302
    # A double submit of the same form makes no second refund.
    client.post(f"/refunds/refund/order/{order.pk}/new/", data)
    (refund,) = refunds_of(shop, order)
    assert (refund.total, refund.created_by_type) == (Decimal("27.00"), "user")

    html = section(order_page(client, order))
    assert f'data-refund="{refund.pk}" data-status="pending" data-amazon="pending"' in html
    assert "Waiting to be sent" in html and "Not for Shopify (no store" in html
    assert "left to refund <strong data-balance>$29.00</strong>" in html


def test_a_refused_refund_shows_why_and_keeps_what_was_entered(shop, browser):
    order = shop.order([("TENT", 1, "50.00", 1)])
    (line,) = shop.lines(order)
    client = browser()
    response = client.post(
        f"/refunds/refund/order/{order.pk}/new/",
        {f"amount_{line.pk}": "60.00", "token": "t1"},
        follow=True,
    )
    html = response.content.decode()
    assert "$60.00 is more than the $50.00 left to refund on it" in html
    assert 'value="60.00"' in html
    assert refunds_of(shop, order) == []


def test_failures_and_held_refunds_are_explained_in_plain_words(shop, browser):
    order = shop.order([("TENT", 2, "50.00", 2)])
    (line,) = shop.lines(order)
    failed = shop.refund(order, [(line.pk, 1, None)])
    shop.run(
        services.refund_failed,
        failed.pk,
        "amazon_18034",
        "The refund is more than the buyer paid and was not yet refunded on Amazon.",
    )
    shop.run(
        lambda: AmazonAccount.objects.filter(pk=shop.account.pk).update(
            status=AccountStatus.DISCONNECTED
        )
    )
    held = shop.refund(order, [(line.pk, 1, None)])
    shop.run(services.hold_refund, held.pk, "the Amazon account is disconnected")
    client = browser()

    html = section(order_page(client, order))
    assert "more than the buyer paid" in html
    assert "the Amazon account is disconnected" in html
    assert "On hold: the Amazon account is not connected" in html
    assert f'action="/refunds/refund/{held.pk}/send-again/"' in html
    # Still disconnected: sending is refused with the reason.
    response = client.post(f"/refunds/refund/{held.pk}/send-again/", follow=True)
    assert "Connect it again first" in response.content.decode()
    shop.run(
        lambda: AmazonAccount.objects.filter(pk=shop.account.pk).update(status=AccountStatus.ACTIVE)
    )
    client.post(f"/refunds/refund/{held.pk}/send-again/")
    assert shop.fresh(held).amazon_sync == "pending"

    listing = page(client, "/refunds/refund/")
    assert "Refused by Amazon" in listing and "more than the buyer paid" in listing


def test_the_cancel_dialog_offers_amazons_reasons_and_records_the_refund(shop, browser):
    order = shop.order([("MUG", 2, "30.00", 0)], status="Unshipped")
    client = browser()
    html = section(order_page(client, order))
    assert f'href="/refunds/refund/order/{order.pk}/cancel/"' in html
    dialog = page(client, f"/refunds/refund/order/{order.pk}/cancel/")
    for reason in (
        "NoInventory",
        "ShippingAddressUndeliverable",
        "BuyerCanceled",
        "MerchandiseNotReceived",
        "address_change",
    ):
        assert f'value="{reason}"' in dialog
    assert 'name="refund" value="30.00"' in dialog

    response = client.post(
        f"/refunds/refund/order/{order.pk}/cancel/",
        {"reason": "NoInventory", "refund": "0", "token": "c1"},
        follow=True,
    )
    assert "needs a refund of more than 0 (R7)" in response.content.decode()
    client.post(
        f"/refunds/refund/order/{order.pk}/cancel/",
        {"reason": "NoInventory", "refund": "30.00", "token": "c2"},
    )
    (cancellation,) = refunds_of(shop, order)
    assert cancellation.kind == "cancellation" and cancellation.cancel_reason == "NoInventory"
    html = section(order_page(client, order))
    assert "A cancellation is being sent to Amazon" in html  # no second cancellation meanwhile


def test_cancel_as_requested_by_buyer_is_prefilled_and_resolves_the_banner_B4(shop, browser):
    order = shop.order(
        [("MUG", 1, "30.00", 0, {"shipping_price": "5.00"}), ("CUP", 1, "8.00", 0)],
        status="Unshipped",
        buyer_cancel_requested=True,
        buyer_cancel_reason="Changed my mind",
        buyer_cancel_requested_at=timezone.now(),
    )
    client = browser()
    html = order_page(client, order)
    assert "notice-buyer-cancel " in html and "Cancel as requested by buyer" in html
    dialog = page(client, f"/refunds/refund/order/{order.pk}/cancel/?buyer=1")
    assert 'name="refund" value="43.00"' in dialog  # the full refund
    client.post(
        f"/refunds/refund/order/{order.pk}/cancel/?buyer=1",
        {"buyer": "1", "refund": "43.00", "token": "b1"},
    )
    (cancellation,) = refunds_of(shop, order)
    assert cancellation.buyer_requested and cancellation.cancel_reason == "BuyerCanceled"
    html = order_page(client, order)
    assert "notice-buyer-cancel-resolved" in html and "cancelled as requested" in html
    assert 'data-action="decline_buyer_cancel"' not in html


def test_declining_a_buyers_request_records_the_reason_B4(shop, browser):
    order = shop.order(
        [("MUG", 1, "30.00", 0)],
        status="Unshipped",
        buyer_cancel_requested=True,
        buyer_cancel_requested_at=timezone.now(),
    )
    client = browser()
    client.post(f"/refunds/refund/order/{order.pk}/decline/", {"reason": "Already shipped out"})
    html = order_page(client, order)
    assert "declined: shipping anyway (Already shipped out)" in html
    assert 'data-action="decline_buyer_cancel"' not in html  # answered: no more buttons


def test_a_viewer_sees_refunds_but_cannot_refund(shop, browser):
    order = shop.order([("TENT", 1, "50.00", 1)])
    (line,) = shop.lines(order)
    client = browser(Role.MERCHANT_VIEWER)
    html = section(order_page(client, order))
    assert "Your role on this merchant is read-only." in html
    client.post(f"/refunds/refund/order/{order.pk}/new/", {f"quantity_{line.pk}": "1"})
    assert refunds_of(shop, order) == []


def test_inventory_cancellations_are_on_the_dashboard_A4(shop, browser):
    for reason in ("NoInventory", "GeneralAdjustment"):
        order = shop.order([("X", 1, "10.00", 0)], status="Unshipped")
        shop.cancel(order, reason=reason, refund="10.00")
    response = browser().get("/")
    (card,) = [c for c in response.context["order_cards"] if c["key"] == "inventory_cancellations"]
    assert card["value"] == 1
    assert card["link"].startswith("/refunds/refund/?")
