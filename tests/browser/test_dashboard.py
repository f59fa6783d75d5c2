"""The dashboard in a browser: an agency owner logs in through the form, sees all its merchants,
and narrows the portal to one of them with the header's switcher."""

from __future__ import annotations

import re

import pytest

from tests.browser.pages import dashboard_card, sidebar, switcher
from tests.browser.world import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agency_owner_logs_in_sees_all_its_merchants_and_switches_to_one(
    new_page, world, expect, screenshot
):
    page = new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))  # not logged in yet
    page.get_by_label("Username").fill(world.owner.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.get_by_role("heading", name="Orders that need attention")).to_be_visible()
    expect(page.get_by_role("heading", name="Your merchants (2)")).to_be_visible()
    for merchant in (world.outdoor, world.harbor):
        expect(page.get_by_role("heading", name=merchant.name, exact=True)).to_be_visible()
    expect(switcher(page)).to_have_value("all")
    # Both merchants' open orders, Harbor's included (A4); three at risk (A9).
    expect(dashboard_card(page, "Unshipped")).to_contain_text(re.compile(r"Unshipped\s*7\b"))
    expect(dashboard_card(page, "At risk")).to_contain_text(re.compile(r"At risk\s*3\b"))
    expect(page.locator("#shopify-mirror")).to_contain_text("harbor-home-goods.myshopify.com")
    screenshot(page, "dashboard")

    switcher(page).select_option(label=world.harbor.name)

    expect(page.get_by_role("heading", name="Your merchant", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=world.harbor.name, exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name=world.outdoor.name, exact=True)).to_have_count(0)
    expect(dashboard_card(page, "Unshipped")).to_contain_text(re.compile(r"Unshipped\s*2\b"))
    expect(dashboard_card(page, "At risk")).to_contain_text(re.compile(r"At risk\s*1\b"))
    # The choice holds on the next page: the order list is Harbor's alone.
    sidebar(page, "Orders").click()
    orders = page.locator("#result_list")
    expect(orders.get_by_role("link", name=world.harbor_order.external_id)).to_be_visible()
    expect(orders.get_by_role("link", name=world.at_risk.external_id)).to_have_count(0)


def test_an_agency_owner_switches_the_portal_to_thai_and_it_stays_thai(
    portal_page, world, expect, screenshot
):
    """The header's language menu: the dashboard comes back in Thai (the words the compiled
    catalogue gives, not English), and the choice is the user's own from then on."""
    from django.utils import translation

    with translation.override("th"):
        heading = translation.gettext("Orders that need attention")
        unshipped = translation.gettext("Unshipped")
    assert heading != "Orders that need attention"  # the Thai catalogue is compiled

    page = portal_page(world.owner)
    expect(page.get_by_role("heading", name="Orders that need attention")).to_be_visible()
    page.locator("#language-switcher-select").select_option("th")

    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "th")
    expect(page.locator("#dashboard")).to_contain_text(unshipped)
    screenshot(page, "dashboard-thai")
    world.owner.refresh_from_db()
    assert world.owner.language == "th"

    page.goto("/")  # a new request: the saved choice, not a one-off
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
