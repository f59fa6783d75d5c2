"""Synced Amazon orders are upserted in bulk, idempotently, with a timeline (R1, R5, B1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money
from orders.models import EventKind, FinancialStatus, Order, OrderEvent, OrderLine
from orders.services import upsert_amazon_orders
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def record(order_id="112-0000001-0000001", status="Pending", updated=T0, items=None, **kw):
    if items is None:
        items = (
            AmazonOrderItem(
                order_item_id=f"{order_id}-1",
                sku="NEVER-LISTED-SKU",
                asin="B000000001",
                title="Widget",
                quantity_ordered=2,
                quantity_shipped=0,
                item_price=Money(Decimal("19.98"), "USD"),
                item_tax=Money(Decimal("1.60"), "USD"),
            ),
        )
    return AmazonOrder(
        amazon_order_id=order_id,
        marketplace_id="ATVPDKIKX0DER",
        status=status,
        fulfillment_channel=kw.pop("fulfillment_channel", "MFN"),
        purchase_date=T0 - timedelta(minutes=5),
        last_update_date=updated,
        latest_ship_date=T0 + timedelta(days=2),
        order_total=kw.pop("order_total", Money(Decimal("21.58"), "USD")),
        items=items,
        **kw,
    )


def upsert(account, records):
    with tenant_context(account.merchant_id):
        return upsert_amazon_orders(account=account, records=records)


def events(merchant, order_id):
    with tenant_context(merchant):
        return list(
            OrderEvent.objects.filter(order__external_id=order_id).values_list("kind", flat=True)
        )


def test_new_orders_are_imported_with_lines_even_for_skus_never_listed_R1(
    two_merchants, make_amazon_account
):
    a, _ = two_merchants
    account = make_amazon_account(a)
    result = upsert(account, [record()])
    assert (result.created, result.updated, result.events) == (1, 0, 1)
    with tenant_context(a):
        order = Order.objects.get()
        line = OrderLine.objects.get()
    assert order.status == "Pending" and order.currency == "USD"
    assert order.total_amount == Decimal("21.58")
    assert order.financial_status == FinancialStatus.PENDING
    assert line.sku == "NEVER-LISTED-SKU" and line.quantity_ordered == 2
    assert line.item_price == Decimal("19.98")
    assert events(a, order.external_id) == [EventKind.IMPORTED]


def test_re_running_the_same_window_changes_nothing(two_merchants, make_amazon_account):
    a, _ = two_merchants
    account = make_amazon_account(a)
    upsert(account, [record()])
    again = upsert(account, [record(), record()])
    assert (again.created, again.updated, again.unchanged, again.events) == (0, 0, 1, 0)
    with tenant_context(a):
        assert Order.objects.count() == 1 and OrderLine.objects.count() == 1
        assert OrderEvent.objects.count() == 1


def test_a_status_change_is_one_timeline_event_and_settles_payment(
    two_merchants, make_amazon_account
):
    a, _ = two_merchants
    account = make_amazon_account(a)
    upsert(account, [record()])
    result = upsert(account, [record(status="Unshipped", updated=T0 + timedelta(minutes=31))])
    assert (result.updated, result.events) == (1, 1)
    with tenant_context(a):
        order = Order.objects.get()
        change = OrderEvent.objects.get(kind=EventKind.STATUS_CHANGED)
    assert order.status == "Unshipped" and order.financial_status == FinancialStatus.PAID
    assert change.data == {"from": "Pending", "to": "Unshipped"}
    assert change.actor_type == "amazon"


def test_an_older_record_never_rolls_an_order_back(two_merchants, make_amazon_account):
    a, _ = two_merchants
    account = make_amazon_account(a)
    upsert(account, [record(status="Unshipped", updated=T0 + timedelta(hours=1))])
    result = upsert(account, [record(status="Pending", updated=T0)])
    assert result.unchanged == 1
    with tenant_context(a):
        assert Order.objects.get().status == "Unshipped"


def test_a_buyer_cancellation_request_is_flagged_once_B1(two_merchants, make_amazon_account):
    a, _ = two_merchants
    account = make_amazon_account(a)
    upsert(account, [record(status="Unshipped")])
    base = record(status="Unshipped").items[0]
    flagged = (replace(base, buyer_cancel_requested=True, buyer_cancel_reason="Found cheaper"),)
    later = T0 + timedelta(hours=2)
    result = upsert(account, [record(status="Unshipped", updated=later, items=flagged)])
    assert len(result.new_buyer_cancel_order_ids) == 1
    again = upsert(
        account, [record(status="Unshipped", updated=later + timedelta(minutes=1), items=flagged)]
    )
    assert again.new_buyer_cancel_order_ids == []
    with tenant_context(a):
        order = Order.objects.get()
        line = OrderLine.objects.get()
    assert order.buyer_cancel_requested and order.buyer_cancel_reason == "Found cheaper"
    assert order.buyer_cancel_requested_at == later
    assert line.buyer_cancel_requested
    assert events(a, order.external_id).count(EventKind.BUYER_CANCEL_REQUESTED) == 1


def test_afn_orders_are_imported_for_reporting_R5(two_merchants, make_amazon_account):
    a, _ = two_merchants
    account = make_amazon_account(a)
    upsert(account, [record(status="Shipped", fulfillment_channel="AFN")])
    with tenant_context(a):
        order = Order.objects.get()
    assert order.is_afn


def test_a_currency_without_minor_unit_is_kept_exact(two_merchants, make_amazon_account):
    a, _ = two_merchants
    account = make_amazon_account(a, marketplace_ids=["A1VC38T7YXB528"])
    items = (
        AmazonOrderItem(
            order_item_id="JP-1",
            sku="JP",
            asin="B0JP",
            title="和菓子",
            quantity_ordered=1,
            quantity_shipped=0,
            item_price=Money(Decimal("1500"), "JPY"),
        ),
    )
    upsert(
        account, [replace(record(order_total=None, items=items), marketplace_id="A1VC38T7YXB528")]
    )
    with tenant_context(a):
        order = Order.objects.get()
    # Without an OrderTotal (Pending orders), the total is summed from the items.
    assert order.currency == "JPY" and order.total_amount == Decimal("1500")
    assert "amazon.co.jp" in order.seller_central_url


def test_orders_land_in_their_own_merchant_only(two_merchants, make_amazon_account):
    a, b = two_merchants
    upsert(make_amazon_account(a), [record(order_id="A-1")])
    upsert(make_amazon_account(b), [record(order_id="B-1")])
    with tenant_context(a):
        assert list(Order.objects.values_list("external_id", flat=True)) == ["A-1"]
