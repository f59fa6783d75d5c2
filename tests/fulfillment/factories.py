"""Isolation-harness factories (tests/portal/test_isolation.py) for the portal's order and
fulfillment-order pages."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from fulfillment import services
from fulfillment.models import FulfillmentOrder, FulfillmentService
from orders.models import Order, OrderLine
from tenants.models import Merchant
from tenants.scope import tenant_context
from tests.support.tenant_factories import tenant_factory

_n = itertools.count(1)


@tenant_factory(Order)
def make_order(merchant: Merchant) -> Order:
    n = next(_n)
    now = timezone.now()
    with tenant_context(merchant):
        order = Order.objects.create(
            merchant=merchant,
            external_id=f"702-{n:07d}-{merchant.pk:07d}",
            status="Unshipped",
            purchase_date=now - timedelta(hours=3),
            source_updated_at=now - timedelta(hours=1),
            latest_ship_date=now + timedelta(days=2),
            currency="USD",
            marketplace_id="ATVPDKIKX0DER",
            total_amount=Decimal("12.00"),
            buyer_name=f"Factory buyer {n}",
        )
        OrderLine.objects.create(
            merchant=merchant,
            order=order,
            external_id=f"{n:08d}",
            sku=f"FACTORY-{n}",
            quantity_ordered=1,
            item_price=Decimal("12.00"),
        )
    return order


@tenant_factory(FulfillmentOrder)
def make_fulfillment_order(merchant: Merchant) -> FulfillmentOrder:
    if not FulfillmentService.objects.filter(merchant=merchant).exists():
        services.create_fulfillment_service(
            name=f"{merchant.name} 3PL", merchant=merchant, issue_api_key=False
        )
    order = make_order(merchant)
    with tenant_context(merchant):
        (fo,) = services.prepare_fulfillment_orders(order)
        return fo
