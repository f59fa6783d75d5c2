"""Refunds in a browser: part of a shipped order refunded from its page (R6), and a buyer's
cancellation request answered by cancelling as requested, with its refund (B4, R7)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from refunds.models import AmazonSync, Refund, RefundStatus
from tenants.scope import tenant_context
from tests.browser.pages import open_order

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def refunds_of(world, order) -> list[Refund]:
    with tenant_context(world.outdoor):
        return list(Refund.objects.filter(order=order).order_by("id"))


def test_part_of_a_shipped_order_is_refunded_from_its_page_R6(portal_page, world, expect):
    order = world.shipped  # 2 tents (378.00) and 4 stakes (50.00), all shipped
    page = portal_page(world.owner)
    open_order(page, order)
    balance = page.locator("#refunds .refund-balance")
    expect(balance).to_have_text("Paid $428.00 · refunded $0.00 · left to refund $428.00")

    page.get_by_role("link", name="Refund…").click()
    page.get_by_label("Quantity of TENT-2P").fill("1")
    page.get_by_label("Note (internal)").fill("One tent came back torn")
    page.get_by_role("button", name="Refund", exact=True).click()

    expect(
        page.get_by_text("Refund of $189.00 created: it succeeds once Amazon accepts it.")
    ).to_be_visible()
    expect(balance).to_have_text("Paid $428.00 · refunded $189.00 · left to refund $239.00")
    row = page.locator("#refunds tr.refund-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("TENT-2P × 1")
    expect(row).to_contain_text("Waiting to be sent")
    (refund,) = refunds_of(world, order)
    assert (refund.total, refund.status) == (Decimal("189.00"), RefundStatus.PENDING)
    assert refund.amazon_sync == AmazonSync.PENDING


def test_a_buyers_cancellation_request_is_answered_by_cancelling_as_requested_B4_R7(
    portal_page, world, expect
):
    order = world.buyer_cancel  # 2 bottles (48.00), the buyer asked to cancel
    page = portal_page(world.owner)
    open_order(page, order)
    expect(page.get_by_role("alert").filter(has_text="The buyer asked to cancel")).to_contain_text(
        "Ordered the wrong size"
    )

    page.get_by_role("link", name="Cancel as requested by buyer").click()
    expect(
        page.get_by_text("The cancellation goes to Amazon with the buyer-cancel reason")
    ).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Refund"))).to_have_value("48.00")
    page.get_by_role("button", name="Cancel as requested by buyer").click()

    expect(page.get_by_text("Cancellation with a refund of $48.00 recorded")).to_be_visible()
    expect(page.get_by_text("The buyer's cancellation request was answered")).to_be_visible()
    expect(page.get_by_role("link", name="Cancel as requested by buyer")).to_have_count(0)
    expect(page.locator("#refunds tr.refund-row")).to_contain_text("Cancellation")
    (cancellation,) = refunds_of(world, order)
    assert cancellation.is_cancellation and cancellation.buyer_requested
    assert cancellation.total == Decimal("48.00")
