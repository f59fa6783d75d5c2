"""After the sync's upsert: deadlines follow Amazon's status (A8, A9), and a buyer's cancellation
request notifies the merchant once (B5), never the buyer (R4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction

from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money
from notifications.models import Notification
from orders.models import Order
from orders.services import after_amazon_upsert, upsert_amazon_orders
from tenants.models import Role
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def record(order_id, status, updated, *, cancel=False, shipped=0):
    return AmazonOrder(
        amazon_order_id=order_id,
        marketplace_id="A1F83G8C2ARO7P",
        status=status,
        fulfillment_channel="MFN",
        purchase_date=T0,
        last_update_date=updated,
        latest_ship_date=T0 + timedelta(days=2),
        order_total=Money(Decimal("20.00"), "GBP"),
        buyer_email=f"{order_id}@marketplace.amazon.example",
        items=(
            AmazonOrderItem(
                order_item_id=f"{order_id}-1",
                sku="SKU",
                asin="B000000001",
                title="Widget",
                quantity_ordered=1,
                quantity_shipped=shipped,
                item_price=Money(Decimal("20.00"), "GBP"),
                buyer_cancel_requested=cancel,
                buyer_cancel_reason="Ordered by mistake" if cancel else "",
            ),
        ),
    )


def sync(account, merchant, records):
    with tenant_context(merchant), transaction.atomic():
        result = upsert_amazon_orders(account=account, records=records)
        after_amazon_upsert(merchant, result, now=T0 + timedelta(hours=1))
        return result


def test_deadlines_follow_the_synced_status_and_buyer_requests_notify_once_B5(
    make_merchant, make_amazon_account, make_user
):
    merchant = make_merchant(time_zone="Europe/London")
    make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="seller@shop.example")
    account = make_amazon_account(merchant, marketplace_ids=["A1F83G8C2ARO7P"])
    sync(
        account,
        merchant,
        [
            record("203-1", "Unshipped", T0),
            record("203-2", "Unshipped", T0, cancel=True),
        ],
    )
    with tenant_context(merchant):
        order = Order.objects.get(external_id="203-1")
        # UK (seeded policy): 7 business days after ship-by (Wed 3 June) = Fri 12 June.
        assert order.confirm_by == datetime(2026, 6, 12, 12, 0, tzinfo=UTC)
        assert order.warn_at == datetime(2026, 6, 5, 12, 0, tzinfo=UTC)
        [note] = Notification.objects.filter(kind="buyer_cancel_requested")
        assert note.order.external_id == "203-2"
        assert "Ordered by mistake" in note.body
        assert list(note.recipients.values_list("user__email", flat=True)) == [
            "seller@shop.example"
        ]

    # The same request seen again notifies nobody; shipping clears the deadlines.
    later = T0 + timedelta(hours=2)
    sync(
        account,
        merchant,
        [
            record("203-1", "Shipped", later, shipped=1),
            record("203-2", "Unshipped", later, cancel=True),
        ],
    )
    with tenant_context(merchant):
        order = Order.objects.get(external_id="203-1")
        assert (order.ship_by, order.confirm_by, order.warn_at) == (None, None, None)
        assert Notification.objects.filter(kind="buyer_cancel_requested").count() == 1
        assert Order.objects.get(external_id="203-2").confirm_by is not None
