"""An Amazon order line's tax split between the item and its shipping, when searchOrders (Orders
2026-01-01) gives the tax as one figure without its ``detailedBreakdowns``: parsing marks it
unknown only when it must, the sync asks getOrderItems (v0) and stores the true split, a later
page without the detail keeps it, and a refund waits for it instead of guessing, then goes
through on Amazon (no 18034). Against the SP-API emulator over HTTP with the real
python-amazon-sp-api classes and PostgreSQL (rules R1, R6)."""

from __future__ import annotations

import json
import pydoc
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client
from django_q.models import OrmQ

from integrations.amazon.gateway import AmazonGateway
from integrations.amazon.ratelimit import RateLimiter
from integrations.amazon.records import AmazonOrder
from orders import amazon_reads, tax_splits
from orders.models import Order, OrderLine
from orders.services import RESOLVE_TAX_SPLIT_TASK, after_amazon_upsert, upsert_amazon_orders
from refunds.models import Refund, RefundStatus
from tenants.models import AmazonAccount, Merchant, Role
from tenants.scope import tenant_context
from tests.refunds.amazon import connect as connect_account
from tests.refunds.amazon import deliver_all, fast_feeds, place, ship
from tests.support.amazon_sync import (
    amazon_now,
    connect,
    differences,
    emulated_orders,
    run_sync,
    sync_until_caught_up,
    window,
)
from tests.support.api import assert_problem

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

MX = "A1AM78C64UM0Y8"  # Amazon.com.mx: prices include tax
# Two units at 20.00 with 3.20 tax on top, and 5.00 shipping with 0.40 tax: searchOrders
# without the detail gives one TAX of 3.60, which is neither the item's nor the shipping's.
TAXED_WITH_SHIPPING = {
    "quantity": 2,
    "unit_price": "20.00",
    "seller_sku": "TENT-2P",
    "item_tax": "3.20",
    "shipping_price": "5.00",
    "shipping_tax": "0.40",
}


def omit_tax_detail(sandbox, share: float = 1.0) -> None:
    sandbox.control.update_seller(
        sandbox.seller["selling_partner_id"], tax_detail_omitted_share=share
    )


def gateway_of(account: AmazonAccount) -> AmazonGateway:
    return amazon_reads.sync_gateway(account)


def searched(account: AmazonAccount, since) -> dict[str, AmazonOrder]:
    """The orders created since ``since``, read with searchOrders as the sync's backfill does."""
    page = gateway_of(account).search_orders_page(created_after=since)
    return {o.amazon_order_id: o for o in page.orders}


def upsert_page(account: AmazonAccount, records: list[AmazonOrder]) -> None:
    """What the sync does with a page: the upsert and what follows it, in one transaction."""
    merchant = Merchant.objects.get(pk=account.merchant_id)
    with tenant_context(merchant), transaction.atomic():
        after_amazon_upsert(merchant, upsert_amazon_orders(account=account, records=records))


def lines_of(merchant: Merchant, amazon_order_id: str) -> list[OrderLine]:
    with tenant_context(merchant):
        return list(OrderLine.objects.filter(order__external_id=amazon_order_id).order_by("id"))


def queued_tax_splits() -> list[tuple]:
    return [
        tuple(r.task["args"])
        for r in OrmQ.objects.all()
        if r.task["func"] == RESOLVE_TAX_SPLIT_TASK
    ]


def run_queued_tax_splits() -> list[dict]:
    """Run the queued tax-split tasks as a worker would (the task, from the broker's row)."""
    results = []
    for row in OrmQ.objects.all():
        if row.task["func"] == RESOLVE_TAX_SPLIT_TASK:
            results.append(pydoc.locate(row.task["func"])(*row.task["args"]))
            row.delete()
    return results


def test_search_orders_leaves_the_tax_split_unknown_only_where_it_must(unlimited, make_merchant):
    sandbox = unlimited
    omit_tax_detail(sandbox)
    since = amazon_now(sandbox) - timedelta(hours=2)
    seller = sandbox.seller
    with_shipping = place(sandbox, seller, [TAXED_WITH_SHIPPING])
    no_shipping = place(sandbox, seller, [{"unit_price": "20.00", "item_tax": "1.60"}])
    untaxed = place(
        sandbox,
        seller,
        [{"unit_price": "20.00", "item_tax": "0", "shipping_price": "5.00", "shipping_tax": "0"}],
    )
    tax_included = place(
        sandbox, seller, [{"unit_price": "200.00", "shipping_price": "50.00"}], marketplace_id=MX
    )
    account = connect_account(make_merchant(), seller)

    items = {order_id: o.items[0] for order_id, o in searched(account, since).items()}
    split = items[with_shipping]
    assert split.tax_split_known is False  # part of the 3.60 is the shipping's: unknown
    assert (split.item_tax.amount, split.shipping_tax) == (Decimal("3.60"), None)
    assert items[no_shipping].tax_split_known  # no shipping: all of it is item tax
    assert items[no_shipping].item_tax.amount == Decimal("1.60")
    assert items[untaxed].tax_split_known  # no tax to split
    assert items[tax_included].tax_split_known  # tax inside the prices: no TAX breakdown

    # With the detail, as Amazon may send it too: the split is known and is v0's.
    omit_tax_detail(sandbox, 0)
    detailed = searched(account, since)[with_shipping].items[0]
    (v0,) = gateway_of(account).get_order_items(with_shipping)
    assert detailed.tax_split_known and v0.tax_split_known
    assert (
        (detailed.item_tax.amount, detailed.shipping_tax.amount)
        == (
            v0.item_tax.amount,
            v0.shipping_tax.amount,
        )
        == (Decimal("3.20"), Decimal("0.40"))
    )


def test_a_backfill_without_tax_detail_ends_with_the_split_getorderitems_gives_R1(
    unlimited, make_merchant
):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    omit_tax_detail(sandbox)
    sandbox.control.generate_orders(
        sid,
        40,
        seed="keelson-tax-split",  # test_sync.py's, where searchOrders gives the detail
        marketplace_ids=["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"],  # tax on top of the price
        **window(amazon_now(sandbox), days_ago=5, hours_ago=6),
    )
    emulated = emulated_orders(sid)
    # The lines searchOrders gives one TAX for while they have a shipping charge.
    undivided = [
        (order_id, item["order_item_id"])
        for order_id, state in emulated.items()
        if state["payment_authorized"] and state["status"] != "Pending"
        for item in state["items"]
        if item["shipping_price"] > 0 and item["item_tax"] + item["shipping_tax"] > 0
    ]
    assert len(undivided) >= 5
    merchant = make_merchant()
    account = connect(merchant, sandbox)

    reports = sync_until_caught_up(account)

    assert sum(r.search_pages for r in reports) >= 1  # the backfill reads searchOrders
    # Exactly those lines waited for getOrderItems, one call per order, and got their split.
    assert sum(r.tax_splits for r in reports) == len(undivided)
    problems, compared, _ = differences(account, emulated, taxes=True)
    assert problems == [] and compared >= 35
    with tenant_context(merchant):
        assert not OrderLine.objects.filter(tax_split_pending=True).exists()

    # Amazon changes one of them (shipped in Seller Central) and a later searchOrders page,
    # again without the detail, brings it: the split getOrderItems gave is kept.
    order_id, item_id = next((o, i) for o, i in undivided if emulated[o]["status"] == "Unshipped")
    since = emulated[order_id]["last_update_date"]
    sandbox.control.ship_in_seller_central(sid, order_id)
    sandbox.control.advance_clock(minutes=3)
    page = gateway_of(account).search_orders_page(last_updated_after=since)
    (record,) = [o for o in page.orders if o.amazon_order_id == order_id]
    item = next(i for i in record.items if i.order_item_id == item_id)
    assert record.status == "Shipped" and item.tax_split_known is False
    upsert_page(account, [record])
    (line,) = [x for x in lines_of(merchant, order_id) if x.external_id == item_id]
    want = next(i for i in emulated[order_id]["items"] if i["order_item_id"] == item_id)
    assert (line.item_tax, line.shipping_tax, line.tax_split_pending) == (
        want["item_tax"],
        want["shipping_tax"],
        False,
    )
    with tenant_context(merchant):
        assert Order.objects.get(external_id=order_id).status == "Shipped"


def test_a_refund_waits_for_amazons_tax_split_then_amazon_accepts_it_R6(
    unlimited, make_merchant, make_user, make_api_key, call
):
    sandbox = unlimited
    omit_tax_detail(sandbox)
    fast_feeds(sandbox)
    merchant = make_merchant()
    account = connect_account(merchant, sandbox.seller)
    since = amazon_now(sandbox) - timedelta(hours=2)
    amazon_id = place(sandbox, sandbox.seller, [TAXED_WITH_SHIPPING])
    ship(sandbox, account, amazon_id)
    sandbox.control.advance_clock(minutes=3)
    upsert_page(account, [searched(account, since)[amazon_id]])
    (line,) = lines_of(merchant, amazon_id)
    # Before: all 3.60 of tax held as item tax, the split pending. A full refund built from
    # that would ask Amazon for 3.60 of ItemTax where the buyer paid 3.20 (18034).
    assert (line.item_tax, line.shipping_tax, line.tax_split_pending) == (
        Decimal("3.60"),
        Decimal("0.00"),
        True,
    )
    with tenant_context(merchant):
        order = Order.objects.get(external_id=amazon_id)
    refund_all = {
        "lines": [{"line": line.pk, "quantity": 2}],
        "shipping_amount": "5.40",
        "reason": "CustomerReturn",
    }

    # The portal: the form says why the line waits; refunding it says the same.
    client = Client()
    client.force_login(make_user(role=Role.MERCHANT_ADMIN, merchant=merchant))
    form = client.get(f"/refunds/refund/order/{order.pk}/new/").content.decode()
    assert "Amazon has not yet told Keelson how this item" in form
    assert len(queued_tax_splits()) == 1  # showing the form asked Amazon already
    token = re.search(r'name="token" value="([0-9a-f]+)"', form).group(1)
    html = client.post(
        f"/refunds/refund/order/{order.pk}/new/",
        {f"quantity_{line.pk}": "2", "reason": "CustomerReturn", "token": token},
        follow=True,
    ).content.decode()
    assert "Keelson is asking Amazon now: try again in a few minutes." in html
    assert len(queued_tax_splits()) == 3  # the refusal asked too (and the form shown again)

    # The API: 409 tax_split_pending, Retry-After; the key keeps the refusal (api.md).
    key = make_api_key(merchant=merchant)
    url = f"/api/v1/orders/{order.pk}/refunds/"
    headers = {"Idempotency-Key": "refund-tent-1"}
    refused = call("post", url, key=key, data=refund_all, headers=headers)
    problem = assert_problem(refused, 409, "tax_split_pending")
    assert refused["Retry-After"] == "60"
    assert "divides between the item and its shipping" in problem["detail"]
    with tenant_context(merchant):
        assert not Refund.objects.filter(order=order).exists()
    # The refusal asked Amazon at once, although its use case was rolled back: every task is
    # for this order, and each does nothing once the first has the split.
    assert len(queued_tax_splits()) == 4
    assert set(queued_tax_splits()) == {(merchant.pk, order.pk)}

    results = run_queued_tax_splits()  # a worker runs them: getOrderItems, then the split
    assert results[0] == {"order": order.pk, "resolved": 1, "unsettled": 0}
    assert results[1:] == [{"order": order.pk, "pending": 0}] * 3
    (line,) = lines_of(merchant, amazon_id)
    assert (line.item_tax, line.shipping_tax, line.tax_split_pending) == (
        Decimal("3.20"),
        Decimal("0.40"),
        False,
    )

    # The same key replays its refusal, as every refusal is kept (api.md); the retry after the
    # wait is a new request, with a new key.
    replayed = call("post", url, key=key, data=refund_all, headers=headers)
    assert_problem(replayed, 409, "tax_split_pending")
    assert replayed["Idempotent-Replayed"] == "true"
    created = call("post", url, key=key, data=refund_all, headers={"Idempotency-Key": "refund-2"})
    assert created.status_code == 201, created.content
    assert "Idempotent-Replayed" not in created
    body = json.loads(created.content)
    assert (body["total"], body["currency"]) == ("48.60", "USD")
    (refund_line,) = body["lines"]
    assert (refund_line["tax"], refund_line["shipping_tax"]) == ("3.20", "0.40")

    deliver_all(merchant)
    with tenant_context(merchant):
        refund = Refund.objects.get(order=order)
    assert refund.status == RefundStatus.SUCCEEDED, refund.failure_message
    state = sandbox.control.order(sandbox.seller["selling_partner_id"], amazon_id)
    assert {(r["component"], r["amount"]) for r in state["refunds"]} == {
        ("Principal", "40.00"),
        ("Tax", "3.20"),
        ("Shipping", "5.00"),
        ("ShippingTax", "0.40"),
    }


def test_the_tax_lane_leaves_get_order_items_tokens_for_new_orders_and_carries_on_next_run_R1(
    settings, make_merchant
):
    """Our rate limiter and the emulator's on: one run reads the backfill, then asks for splits
    only while getOrderItems has more than ``LIVE_RESERVE`` tokens (the live lane's new orders
    and refunds waiting come first) and yields; the orders are caught up meanwhile. The next
    runs carry on from the pending lines themselves."""
    settings.KEELSON_AMAZON_RATE_LIMITS = True
    settings.KEELSON_SYNC_MAX_WAIT = 0.2
    from sandbox.amazon.testing import running_amazon_sandbox

    with running_amazon_sandbox(rate_limits=True, marketplace_ids=["ATVPDKIKX0DER"]) as sandbox:
        sid = sandbox.seller["selling_partner_id"]
        omit_tax_detail(sandbox)
        sandbox.control.generate_orders(
            sid,
            70,
            seed="keelson-tax-lane",
            # No cancellations: searchOrders gives a cancelled quantity's tax as 0, v0 not
            # (docs/benchmarks.md), which the comparison below is not about.
            buyer_cancel_share=0,
            **window(amazon_now(sandbox), days_ago=3, hours_ago=6),
        )
        emulated = emulated_orders(sid)
        undivided = {
            order_id
            for order_id, state in emulated.items()
            if state["payment_authorized"] and state["status"] != "Pending"
            for item in state["items"]
            if item["shipping_price"] > 0 and item["item_tax"] + item["shipping_tax"] > 0
        }
        assert len(undivided) > 30  # more than getOrderItems' burst of 30
        merchant = make_merchant()
        account = connect(merchant, sandbox)

        report = run_sync(account)

        assert report.outcome == "caught_up" and report.backfilling is False
        assert set(report.lanes["blocked"]) == {"tax"}
        asked = report.item_calls
        assert 30 - tax_splits.LIVE_RESERVE <= asked < len(undivided)
        assert RateLimiter().available(sid, "getOrderItems") >= tax_splits.LIVE_RESERVE
        with tenant_context(merchant):
            waiting = set(
                OrderLine.objects.filter(tax_split_pending=True).values_list(
                    "order__external_id", flat=True
                )
            )
        assert waiting and waiting < undivided and len(waiting) == len(undivided) - asked

        # Later runs (any worker) pick up where it stopped: here with the limits lifted.
        settings.KEELSON_AMAZON_RATE_LIMITS = False
        sandbox.control.set_rate_limits(False)
        sync_until_caught_up(account)
        problems, compared, _ = differences(account, emulated, taxes=True)
        assert problems == [] and compared >= 60
        with tenant_context(merchant):
            assert not OrderLine.objects.filter(tax_split_pending=True).exists()
