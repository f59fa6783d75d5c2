"""The sync's upsert stores each order's policy deadlines in the same statement as the order
(orders/bulk.py): they must equal what orders.policy computes for the order as stored, the same
as recompute_deadlines would write, on insert and on every update (ship-by moved, shipped,
confirmed by us, items not fetched); the sweep's flags are cleared by after_amazon_upsert at its
``now`` only when they no longer hold."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money
from orders import policy, selectors
from orders.models import Order, OrderEvent, OrderLine, ShipmentConfirmation
from orders.services import (
    UPSERTED_DEADLINE_FIELDS,
    after_amazon_upsert,
    recompute_deadlines,
    upsert_amazon_orders,
)
from tenants.scope import tenant_context
from tests.support.policy import UK, US

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday
SHIP_BY = T0 + timedelta(days=2)


def item(order_id, n=1, *, ordered=1, shipped=0):
    return AmazonOrderItem(
        order_item_id=f"{order_id}-{n}",
        sku=f"SKU-{n}",
        asin="B000000001",
        title="Widget",
        quantity_ordered=ordered,
        quantity_shipped=shipped,
        item_price=Money(Decimal("20.00"), "USD"),
    )


def record(order_id, status="Unshipped", updated=T0, *, items=None, **kw):
    return AmazonOrder(
        amazon_order_id=order_id,
        marketplace_id=kw.pop("marketplace_id", US),
        status=status,
        fulfillment_channel=kw.pop("fulfillment_channel", "MFN"),
        purchase_date=T0 - timedelta(minutes=5),
        last_update_date=updated,
        latest_ship_date=kw.pop("latest_ship_date", SHIP_BY),
        order_total=Money(Decimal("20.00"), "USD"),
        items=(item(order_id),) if items is None else items,
        **kw,
    )


@pytest.fixture
def merchant(make_merchant):
    return make_merchant(time_zone="America/New_York", deadline_warning_days=5)


@pytest.fixture
def account(merchant, make_amazon_account):
    return make_amazon_account(merchant, marketplace_ids=[US, UK])


def upsert(account, records, *, hook_now=None):
    with tenant_context(account.merchant_id), transaction.atomic():
        result = upsert_amazon_orders(account=account, records=records)
        if hook_now is not None:
            after_amazon_upsert(account.merchant, result, now=hook_now)
        return result


def stored(merchant, order_id):
    with tenant_context(merchant):
        order = Order.objects.get(external_id=order_id)
        return order, {name: getattr(order, name) for name in UPSERTED_DEADLINE_FIELDS}


def policy_deadlines(merchant, order):
    """What orders.policy says for the order as stored (lines, merchant, marketplace rule)."""
    with tenant_context(merchant):
        d = policy.deadlines(selectors.order_times(order))
    return {name: getattr(d, name) for name in UPSERTED_DEADLINE_FIELDS}


def assert_as_policy(merchant, order_ids, *, now=T0):
    for order_id in order_ids:
        order, written = stored(merchant, order_id)
        assert written == policy_deadlines(merchant, order), order_id
    # And recompute_deadlines finds nothing to change.
    with tenant_context(merchant):
        ids = list(Order.objects.filter(external_id__in=order_ids).values_list("pk", flat=True))
        assert recompute_deadlines(ids, now=now) == 0


CASES = [
    record("1-unshipped"),
    record("2-uk", marketplace_id=UK),  # 7 business days after ship-by (A8)
    record("3-pending", "Pending"),  # verify_by only (A2)
    record("4-afn", fulfillment_channel="AFN"),  # read-only (R5): none
    record("5-shipped", "Shipped", items=(item("5-shipped", shipped=1),)),
    record("6-partly", "PartiallyShipped", items=(item("6-partly", ordered=3, shipped=1),)),
    record("7-no-items", items=()),  # nothing ordered: not all shipped, deadlines kept
    record("8-canceled", "Canceled"),
    record("9-unknown-market", marketplace_id="AXXXXXXXXXXXX"),  # default rule
]


def test_the_upsert_stores_the_policys_deadlines_on_insert(merchant, account):
    upsert(account, CASES)
    assert_as_policy(merchant, [r.amazon_order_id for r in CASES])
    _, written = stored(merchant, "2-uk")
    # UK: Wed 3 June + 7 business days = Fri 12 June; warned 5 days before, New York's clock.
    assert written["confirm_by"] == datetime(2026, 6, 12, 12, 0, tzinfo=UTC)
    assert written["warn_at"] == datetime(2026, 6, 7, 12, 0, tzinfo=UTC)
    assert stored(merchant, "3-pending")[1]["verify_by"] == T0 - timedelta(minutes=5) + timedelta(
        days=21
    )
    assert stored(merchant, "4-afn")[1] == dict.fromkeys(UPSERTED_DEADLINE_FIELDS)


def test_an_update_that_moves_ship_by_rewrites_the_deadlines(merchant, account):
    upsert(account, [record("1-a", marketplace_id=UK), record("1-b")])
    before = stored(merchant, "1-a")[1]
    later = SHIP_BY + timedelta(days=3)
    upsert(
        account,
        [
            record(
                "1-a", updated=T0 + timedelta(hours=1), marketplace_id=UK, latest_ship_date=later
            ),
            record("1-b", updated=T0 + timedelta(hours=1), latest_ship_date=later),
        ],
    )
    after = stored(merchant, "1-a")[1]
    assert after["ship_by"] == later and after["confirm_by"] > before["confirm_by"]
    assert_as_policy(merchant, ["1-a", "1-b"])
    # Shipped, then seen again with nothing newer: cleared, and nothing written.
    upsert(
        account,
        [record("1-a", "Shipped", T0 + timedelta(hours=2), items=(item("1-a", shipped=1),))],
    )
    assert stored(merchant, "1-a")[1] == dict.fromkeys(UPSERTED_DEADLINE_FIELDS)
    assert upsert(account, [record("1-a", "Unshipped", T0 + timedelta(hours=2))]).unchanged == 1
    assert_as_policy(merchant, ["1-a"])


def test_updates_use_what_is_ours_and_the_lines_already_stored(merchant, account):
    upsert(account, [record("2-a"), record("2-b", items=(item("2-b", 1), item("2-b", 2)))])
    with tenant_context(merchant):
        Order.objects.filter(external_id="2-a").update(
            shipment_confirmation=ShipmentConfirmation.CONFIRMED
        )
    upsert(
        account,
        [
            # Confirmed to Amazon by us: no deadline any more, whatever Amazon's record says.
            record("2-a", updated=T0 + timedelta(hours=1), latest_ship_date=SHIP_BY + timedelta(1)),
            # Only the first item in this record: the second line stays stored and unshipped.
            record("2-b", updated=T0 + timedelta(hours=1), items=(item("2-b", 1, shipped=1),)),
        ],
    )
    assert stored(merchant, "2-a")[1] == dict.fromkeys(UPSERTED_DEADLINE_FIELDS)
    assert stored(merchant, "2-b")[1]["ship_by"] == SHIP_BY
    # Orders v0 without items: the stored lines (now both shipped) decide.
    upsert(
        account,
        [record("2-b", updated=T0 + timedelta(hours=2), items=(item("2-b", 2, shipped=1),))],
    )
    upsert(account, [replace(record("2-b", updated=T0 + timedelta(hours=3)), items=None)])
    assert stored(merchant, "2-b")[1] == dict.fromkeys(UPSERTED_DEADLINE_FIELDS)
    assert_as_policy(merchant, ["2-a", "2-b"])


def test_the_hook_clears_a_sweep_flag_only_when_it_no_longer_holds(merchant, account):
    upsert(account, [record("3-a"), record("3-b")])
    with tenant_context(merchant):
        Order.objects.filter(external_id__in=["3-a", "3-b"]).update(is_late=True)
    hook_now = SHIP_BY + timedelta(days=1)
    result = upsert(
        account,
        [
            # Ship-by moved past the hook's now: no longer late.
            record(
                "3-a", updated=T0 + timedelta(hours=1), latest_ship_date=hook_now + timedelta(1)
            ),
            # Still late at the hook's now.
            replace(record("3-b"), last_update_date=T0 + timedelta(hours=1)),
        ],
        hook_now=hook_now,
    )
    assert len(result.flagged_order_ids) == 2
    assert stored(merchant, "3-a")[0].is_late is False
    assert stored(merchant, "3-b")[0].is_late is True
    assert_as_policy(merchant, ["3-a", "3-b"], now=hook_now)


def test_two_pages_in_one_transaction_each_write_their_own_rows(merchant, account):
    """Two pages in one transaction: each statement writes its own page's rows (orders/bulk.py)."""
    with tenant_context(merchant), transaction.atomic():
        first = upsert_amazon_orders(account=account, records=[record("4-a"), record("4-b")])
        second = upsert_amazon_orders(
            account=account,
            records=[
                record("4-c"),
                record("4-a", "Shipped", T0 + timedelta(hours=1), items=(item("4-a", shipped=1),)),
            ],
        )
    assert (first.created, second.created, second.updated) == (2, 1, 1)
    with tenant_context(merchant):
        assert Order.objects.count() == 3
        assert OrderLine.objects.count() == 3
        kinds = sorted(OrderEvent.objects.values_list("order__external_id", "kind"))
    assert kinds == [
        ("4-a", "imported"),
        ("4-a", "status_changed"),
        ("4-b", "imported"),
        ("4-c", "imported"),
    ]
    assert_as_policy(merchant, ["4-a", "4-b", "4-c"])
