"""Setting up and exporting in a browser (issue 13): an agency owner connects a fulfillment
service for one of its merchants and copies its API key, shown once, which then works on the
partner API; and exports the at-risk queue as CSV."""

from __future__ import annotations

import csv
import io

import pytest
import requests

from tests.browser.pages import dashboard_card, sidebar

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_agency_owner_creates_a_fulfillment_service_and_its_key_works_once_shown(
    portal_page, world, expect, live_server
):
    page = portal_page(world.owner)
    sidebar(page, "Fulfillment services").click()
    page.locator("a[href$='/fulfillmentservice/add/']").first.click()  # the header's "+"

    page.get_by_label("Name").fill("Harbor Logistics")
    owner = page.get_by_label("Belongs to")
    owner.select_option(
        owner.locator("option", has_text="Harbor Home Goods").get_attribute("value")
    )
    page.get_by_label("Callback URL").fill("")  # it polls the API instead
    page.get_by_role("button", name="Save", exact=True).click()

    key_box = page.locator("#raw-api-key")
    expect(key_box).to_be_visible()
    raw_key = key_box.input_value()
    assert raw_key
    expect(page.get_by_text("shown only this once")).to_be_visible()

    # The key is the service's: it reads its fulfillment orders on the partner API.
    answer = requests.get(
        f"{live_server.url}/api/v1/fulfillment-orders/",
        headers={"Authorization": f"Bearer {raw_key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text

    page.get_by_role("link", name="I have copied them").click()
    expect(page.get_by_text(raw_key)).to_have_count(0)  # never shown again
    expect(page.locator("body")).to_contain_text("Harbor Logistics")


def test_the_at_risk_queue_is_exported_as_csv_with_every_order_it_lists(portal_page, world, expect):
    page = portal_page(world.owner)
    dashboard_card(page, "At risk").click()
    listed = page.locator("#result_list tbody tr")
    expect(listed).to_have_count(3)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    body = download.value.path().read_text(encoding="utf-8-sig")

    rows = list(csv.reader(io.StringIO(body)))
    assert len(rows) == 1 + 3  # the header, then the three orders the queue lists
    assert any(world.at_risk.external_id in row for row in rows[1:])
