"""Orders in a browser: from the dashboard's "At risk" card to the queue and an order, fulfilled
from its page with the shipment queued for confirmation on Amazon (A9, F11, R3); a viewer sees
the orders but nothing to act with."""

from __future__ import annotations

import re

import pytest

from fulfillment.models import AmazonConfirmation, Fulfillment
from integrations.outbox.models import OutboxMessage
from tenants.scope import tenant_context
from tests.browser.pages import dashboard_card, sidebar

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_at_risk_order_is_found_from_the_dashboard_and_fulfilled_A9_F11_R3(
    portal_page, world, expect, screenshot
):
    order = world.at_risk
    page = portal_page(world.owner)

    dashboard_card(page, "At risk").click()

    expect(page).to_have_url(re.compile(r"attention=at_risk"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(3)  # two of Northwind Outdoor's, one of Harbor's
    expect(rows.filter(has_text="Harbor Home Goods")).to_have_count(1)
    screenshot(page, "at-risk-queue")
    rows.filter(has_text=order.buyer_name).get_by_role("link", name=order.external_id).click()

    expect(page.get_by_role("alert").filter(has_text="Please confirm shipment by")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("Check buyer messages in Seller Central")
    screenshot(page, "order-page")
    form = page.locator("form[data-action=mark_fulfilled]")
    form.get_by_placeholder("Tracking number").fill("1Z999AA10123456784")
    form.get_by_placeholder("Carrier").fill("UPS")
    form.get_by_role("button", name="Mark as fulfilled").click()

    expect(
        page.get_by_text("Marked as fulfilled and queued for confirmation on Amazon.")
    ).to_be_visible()
    shipment = page.locator("#fulfillment tr.shipment")
    expect(shipment).to_have_count(1)
    expect(shipment).to_contain_text("UPS 1Z999AA10123456784")
    expect(shipment).to_contain_text("Queued")
    with tenant_context(world.outdoor):
        fulfillment = Fulfillment.objects.get(order=order)
        assert fulfillment.amazon_confirmation == AmazonConfirmation.PENDING
        assert OutboxMessage.objects.filter(kind="amazon.confirm_shipment").count() == 1


def test_a_viewer_sees_orders_but_no_action_it_could_use(portal_page, world, expect):
    page = portal_page(world.viewer)

    sidebar(page, "Orders").click()
    expect(
        page.locator("#result_list").get_by_role("link", name=world.at_risk.external_id)
    ).to_be_visible()
    # No bulk actions on the list: no "Confirm shipment on Amazon (A7)", no row to tick.
    expect(page.get_by_label("Select action to run")).to_have_count(0)
    expect(page.get_by_label("Select record")).to_have_count(0)

    page.locator("#result_list").get_by_role("link", name=world.at_risk.external_id).click()
    expect(
        page.locator("#order-detail").get_by_role("heading", name="Fulfillment", exact=True)
    ).to_be_visible()
    # Every action the page shows is disabled, saying why; nothing to click or follow.
    actions = page.locator("#fulfillment button, #refunds button")
    expect(actions.first).to_be_visible()
    for button in actions.all():
        expect(button).to_be_disabled()
    expect(page.locator("#refunds a.order-action")).to_have_count(0)
    expect(page.get_by_text("Your role on this merchant is read-only.").first).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
