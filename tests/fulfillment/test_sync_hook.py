"""What the Amazon sync's upsert sets off in fulfillment (orders.services.after_amazon_upsert):
fulfillment orders held while Pending (A1), released once Unshipped, requested automatically
when the merchant turned it on (F2), voided when Amazon cancels first (A6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from fulfillment import services
from fulfillment.models import FulfillmentOrder
from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money
from orders.models import EventKind, Order, OrderEvent
from orders.services import after_amazon_upsert, upsert_amazon_orders
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)


def record(order_id, status, minutes, *, quantity=2, shipped=0):
    return AmazonOrder(
        amazon_order_id=order_id,
        marketplace_id="ATVPDKIKX0DER",
        status=status,
        fulfillment_channel="MFN",
        purchase_date=T0,
        last_update_date=T0 + timedelta(minutes=minutes),
        latest_ship_date=T0 + timedelta(days=2),
        order_total=Money(Decimal("20.00"), "USD") if status != "Pending" else None,
        items=(
            AmazonOrderItem(
                order_item_id=f"{order_id}-1",
                sku="SKU-1",
                asin="B000000001",
                title="Widget",
                quantity_ordered=quantity,
                quantity_shipped=shipped,
                item_price=Money(Decimal("20.00"), "USD"),
            ),
        ),
    )


def sync(shop, account, *records):
    with tenant_context(shop.merchant), transaction.atomic():
        result = upsert_amazon_orders(account=account, records=records)
        after_amazon_upsert(shop.merchant, result)
    with tenant_context(shop.merchant):
        return {
            o.external_id: (o, list(FulfillmentOrder.objects.filter(order=o).order_by("id")))
            for o in Order.objects.filter(external_id__in=[r.amazon_order_id for r in records])
        }


@pytest.fixture
def account(shop, make_amazon_account):
    return make_amazon_account(shop.merchant)


def test_unshipped_orders_are_requested_automatically_when_turned_on_F2(shop, account):
    shop.merchant.auto_request_fulfillment = True
    shop.merchant.save()

    (order, [fo]) = sync(shop, account, record("111-0000001-0000001", "Pending", 1))[
        "111-0000001-0000001"
    ]
    assert fo.state == ("on_hold", "unsubmitted")  # A1: nothing to request yet

    (order, [fo]) = sync(shop, account, record("111-0000001-0000001", "Unshipped", 31))[
        "111-0000001-0000001"
    ]
    assert fo.state == ("open", "submitted") and fo.auto_requested
    assert order.fulfillment_status == "in_progress"
    with tenant_context(shop.merchant):
        (event,) = OrderEvent.objects.filter(order=order, kind=EventKind.FULFILLMENT_REQUESTED)
    assert "Requested automatically" in event.message
    assert event.actor == "automatic fulfillment (F2)"


def test_an_automatic_request_is_made_once(shop, account):
    shop.merchant.auto_request_fulfillment = True
    shop.merchant.save()
    (_order, [fo]) = sync(shop, account, record("111-0000002-0000001", "Unshipped", 1))[
        "111-0000002-0000001"
    ]
    shop.run(services.cancel_request, fo.pk, actor=shop.merchant_actor)  # F8

    # A later change on Amazon does not request it again: the merchant decided.
    (_order, fos) = sync(shop, account, record("111-0000002-0000001", "Unshipped", 5))[
        "111-0000002-0000001"
    ]
    assert [f.state for f in fos] == [("cancelled", "closed"), ("open", "unsubmitted")]


def test_without_automatic_fulfillment_the_order_waits_for_the_merchant(shop, account):
    (order, [fo]) = sync(shop, account, record("111-0000003-0000001", "Unshipped", 1))[
        "111-0000003-0000001"
    ]
    assert fo.state == ("open", "unsubmitted")
    assert order.fulfillment_status == "unfulfilled"


def test_amazon_cancelling_first_voids_the_unrequested_fulfillment_order_A6(shop, account):
    sync(shop, account, record("111-0000004-0000001", "Pending", 1))
    (_order, [fo]) = sync(shop, account, record("111-0000004-0000001", "Canceled", 20))[
        "111-0000004-0000001"
    ]
    assert fo.state == ("cancelled", "unsubmitted")


def test_shipped_outside_keelson_counts_as_fulfilled(shop, account):
    sync(shop, account, record("111-0000005-0000001", "Unshipped", 1))
    (order, [fo]) = sync(shop, account, record("111-0000005-0000001", "Shipped", 9, shipped=2))[
        "111-0000005-0000001"
    ]
    assert order.fulfillment_status == "fulfilled"
    assert fo.state == ("closed", "unsubmitted")


def test_merchants_without_a_service_get_no_fulfillment_orders(make_merchant, make_amazon_account):
    merchant = make_merchant()
    account = make_amazon_account(merchant)
    with tenant_context(merchant), transaction.atomic():
        result = upsert_amazon_orders(account=account, records=[record("111-6", "Unshipped", 1)])
        after_amazon_upsert(merchant, result)
        assert not FulfillmentOrder.objects.exists()


def test_orders_of_a_merchant_without_fulfillment_services_cost_few_queries_F7(
    make_merchant, make_amazon_account
):
    """The sync's hook runs for every page: for a merchant with no fulfillment location and
    orders with no fulfillment orders, two reads tell so, and the status still follows what
    Amazon reports shipped."""
    merchant = make_merchant()
    account = make_amazon_account(merchant)
    with tenant_context(merchant), transaction.atomic():
        result = upsert_amazon_orders(
            account=account,
            records=[
                record("111-0000009-0000001", "Unshipped", 1),
                record("111-0000009-0000002", "Shipped", 1, shipped=2),
            ],
        )
        with CaptureQueriesContext(connections["default"]) as ctx:
            report = services.sync_fulfillment_orders(
                result.changed_order_ids, merchant_ids=[merchant.pk]
            )
        statuses = dict(Order.objects.values_list("external_id", "fulfillment_status"))
    assert statuses == {
        "111-0000009-0000001": "unfulfilled",
        "111-0000009-0000002": "fulfilled",
    }
    assert report.status_changed == 1 and report.created == 0
    # locations, fulfillment orders; then the status: Keelson's fulfilled quantities, requests in
    # progress, lines, orders, and the write of the one that changed
    assert len(ctx.captured_queries) <= 7
    assert not any("SAVEPOINT" in q["sql"] for q in ctx.captured_queries)
