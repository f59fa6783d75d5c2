"""How a page of the sync reaches the database (issue 14, docs/benchmarks.md "Sync: ingest"):
orders, lines and timeline events in one statement, in the order Amazon gave them, and a page's
transaction that commits without waiting for the disk."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import DataError, connections, transaction
from django.test.utils import CaptureQueriesContext

from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money
from orders.models import EventKind, Order, OrderEvent, OrderLine
from orders.services import upsert_amazon_orders
from orders.sync import page_transaction
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def item(order_id: str, n: int, *, cancel: bool = False) -> AmazonOrderItem:
    return AmazonOrderItem(
        order_item_id=f"{order_id}-{n}",
        sku=f"SKU-{n}",
        asin="B000000001",
        title="Widget",
        quantity_ordered=1,
        quantity_shipped=0,
        item_price=Money(Decimal("10.00"), "USD"),
        buyer_cancel_requested=cancel,
        buyer_cancel_reason="Found it cheaper" if cancel else "",
    )


def record(order_id: str, *, status: str = "Unshipped", minutes: int = 0, items: int = 2):
    return AmazonOrder(
        amazon_order_id=order_id,
        marketplace_id="ATVPDKIKX0DER",
        status=status,
        fulfillment_channel="MFN",
        purchase_date=T0,
        last_update_date=T0 + timedelta(minutes=minutes),
        latest_ship_date=T0 + timedelta(days=2),
        order_total=Money(Decimal("20.00"), "USD"),
        items=tuple(item(order_id, n) for n in range(1, items + 1)),
    )


def test_a_page_is_written_in_one_statement_in_amazons_order(make_merchant, make_amazon_account):
    merchant = make_merchant()
    account = make_amazon_account(merchant)
    ids = ["114-0000003-0000001", "114-0000001-0000001", "114-0000002-0000001"]
    with tenant_context(merchant), CaptureQueriesContext(connections["default"]) as ctx:
        result = upsert_amazon_orders(account=account, records=[record(i) for i in ids])
    writes = [q["sql"] for q in ctx.captured_queries if "INSERT" in q["sql"]]
    assert len(writes) == 1  # orders, lines and events together
    with tenant_context(merchant):
        orders = list(Order.objects.order_by("id"))
        assert [o.external_id for o in orders] == ids  # ids ascend in Amazon's order
        assert result.new_order_ids == [o.pk for o in orders]
        for order in orders:
            lines = OrderLine.objects.filter(order=order).order_by("id")
            assert [line.external_id for line in lines] == [
                f"{order.external_id}-{n}" for n in (1, 2)
            ]
            assert list(OrderEvent.objects.filter(order=order).values_list("kind", flat=True)) == [
                EventKind.IMPORTED
            ]


def test_a_status_change_and_a_cancellation_request_keep_their_order_on_the_timeline_B1(
    make_merchant, make_amazon_account
):
    merchant = make_merchant()
    account = make_amazon_account(merchant)
    first = record("114-0000004-0000001")
    with tenant_context(merchant):
        upsert_amazon_orders(account=account, records=[first])
        changed = replace(
            first,
            status="PartiallyShipped",
            last_update_date=first.last_update_date + timedelta(minutes=5),
            items=(item(first.amazon_order_id, 1, cancel=True), item(first.amazon_order_id, 2)),
        )
        result = upsert_amazon_orders(account=account, records=[changed])
        assert result.updated == 1 and result.new_buyer_cancel_order_ids
        kinds = list(
            OrderEvent.objects.filter(order__external_id=first.amazon_order_id).values_list(
                "kind", flat=True
            )
        )
    assert kinds == [
        EventKind.IMPORTED,
        EventKind.STATUS_CHANGED,
        EventKind.BUYER_CANCEL_REQUESTED,
    ]


def test_a_value_too_long_is_refused_not_cut(make_merchant, make_amazon_account):
    merchant = make_merchant()
    account = make_amazon_account(merchant)
    too_long = replace(record("114-0000005-0000001"), buyer_name="B" * 201)  # max_length 200
    with tenant_context(merchant), pytest.raises(DataError), transaction.atomic():
        upsert_amazon_orders(account=account, records=[too_long])
    with tenant_context(merchant):
        assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_page_commits_without_waiting_for_the_disk_and_only_that_page(make_merchant):
    """A page lost in a crash is read again from Amazon (orders.sync.page_transaction)."""
    connection = connections["default"]

    def synchronous_commit() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    with tenant_context(make_merchant()):
        with page_transaction():
            assert synchronous_commit() == "off"
        with transaction.atomic():
            assert synchronous_commit() == "on"
