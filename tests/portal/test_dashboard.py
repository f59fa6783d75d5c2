"""The portal's dashboard: per merchant in scope, its Amazon accounts and API keys; order
cards in their empty state (no orders are synced yet, and no number is made up)."""

from __future__ import annotations

import pytest

from portal import dashboard
from tenants.services import create_api_key, revoke_api_key

pytestmark = pytest.mark.django_db


def test_each_merchant_in_scope_shows_its_amazon_accounts_and_key_count(
    tenancy, login, make_amazon_account
):
    make_amazon_account(tenancy.a1, name="A1 US", status="active")
    make_amazon_account(tenancy.a2, name="A2 EU", status="auth_failed")
    make_amazon_account(tenancy.b1, name="B1 secret account")
    create_api_key(name="k1", scopes=["orders:read"], merchant=tenancy.a1)
    revoked = create_api_key(name="k2", scopes=["orders:read"], merchant=tenancy.a1).api_key
    revoke_api_key(api_key=revoked)
    create_api_key(name="k3", scopes=["orders:read"], merchant=tenancy.b1)

    response = login(tenancy.agency_owner).get("/")

    panels = {p["merchant"].pk: p for p in response.context["merchant_panels"]}
    assert set(panels) == {tenancy.a1.pk, tenancy.a2.pk}
    assert [r["account"].name for r in panels[tenancy.a1.pk]["amazon_accounts"]] == ["A1 US"]
    assert [r["status"] for r in panels[tenancy.a2.pk]["amazon_accounts"]] == [
        "Authorisation failed"
    ]
    assert panels[tenancy.a1.pk]["api_keys"] == 1
    assert panels[tenancy.a2.pk]["api_keys"] == 0
    page = response.content.decode()
    assert "A1 US" in page and "A2 EU" in page
    assert "B1 secret account" not in page and tenancy.b1.name not in page


def test_the_dashboard_follows_the_switcher(tenancy, login, make_amazon_account):
    make_amazon_account(tenancy.a1, name="A1 US")
    make_amazon_account(tenancy.a2, name="A2 EU")
    client = login(tenancy.agency_owner)
    client.post("/merchant/switch/", {"merchant": tenancy.a2.pk})

    page = client.get("/").content.decode()

    assert "A2 EU" in page and "A1 US" not in page


def test_order_cards_show_their_empty_state_without_numbers(tenancy, login):
    response = login(tenancy.merchant_admin).get("/")

    cards = response.context["order_cards"]
    assert [c["title"] for c in cards] == [
        "Unshipped",
        "At risk",
        "Late",
        "Buyer-cancel requests",
        "Pending",
        "Inventory cancellations",
    ]
    assert all(c["value"] is None for c in cards)
    assert response.content.decode().count("No orders synced yet") == len(cards)


def test_a_registered_counter_fills_its_card(tenancy, login, monkeypatch):
    monkeypatch.setattr(dashboard, "ORDER_CARDS", [dashboard.OrderCard("late", "Late", "", "x")])
    dashboard.register_counter("late", lambda request: len(request.merchant_ids))

    cards = login(tenancy.agency_owner).get("/").context["order_cards"]

    assert cards[0]["value"] == 2
    with pytest.raises(KeyError):
        dashboard.register_counter("no-such-card", lambda request: 0)


def test_a_merchant_without_accounts_says_so(tenancy, login):
    page = login(tenancy.merchant_admin).get("/").content.decode()

    assert "No Amazon account connected." in page
