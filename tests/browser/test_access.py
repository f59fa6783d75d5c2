"""Merchants and access in a browser: the Amazon accounts and Shopify stores an agency owner
sees, and an API key revoked from the key list (it stays listed, revoked)."""

from __future__ import annotations

import pytest

from tests.browser.pages import sidebar

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agency_owner_sees_its_amazon_accounts_and_shopify_stores(
    portal_page, world, expect, screenshot
):
    page = portal_page(world.owner)

    sidebar(page, "Amazon accounts").click()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    for name, seller_id in (
        ("Northwind Outdoor US", "A2NWOUTDOOR001"),
        ("Harbor Home Goods US", "A3HARBORHOME01"),
    ):
        expect(rows.filter(has_text=name)).to_contain_text(seller_id)
        expect(rows.filter(has_text=name)).to_contain_text("Active")
    screenshot(page, "amazon-accounts")

    sidebar(page, "Shopify stores").click()
    store = page.locator("#result_list tbody tr")
    expect(store).to_have_count(1)
    expect(store).to_contain_text("Active")
    store.get_by_role("link", name="harbor-home-goods.myshopify.com").click()
    # The secrets are never shown back, only whether they are set.
    expect(
        page.get_by_text("Access token: Set (hidden); webhook secret: Set (hidden)")
    ).to_be_visible()
    expect(page.get_by_text("shpat_browser_tests")).to_have_count(0)
    screenshot(page, "shopify-store")


def test_an_api_key_is_revoked_from_the_key_list(portal_page, world, expect):
    page = portal_page(world.owner)
    sidebar(page, "API keys").click()
    row = page.locator("#result_list tbody tr").filter(has_text=world.api_key.name)
    expect(row).to_contain_text("Active")

    row.get_by_label("Select record").check()
    page.get_by_label("Select action to run").select_option(label="Revoke selected keys")
    page.get_by_role("button", name="Run").click()

    expect(page.get_by_text("Revoked 1 key.")).to_be_visible()
    expect(row).to_contain_text("Revoked")
    world.api_key.refresh_from_db()
    assert world.api_key.revoked_at is not None
