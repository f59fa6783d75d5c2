"""Isolation-harness factories (tests/portal/test_isolation.py) for the portal's order,
fulfillment-order and fulfillment-service pages."""

from __future__ import annotations

import itertools

from fulfillment import services
from fulfillment.models import FulfillmentOrder, FulfillmentService
from orders.models import Order
from tenants.models import Merchant
from tenants.scope import tenant_context
from tests.support.orders import create_order
from tests.support.tenant_factories import tenant_factory

_n = itertools.count(1)


@tenant_factory(Order)
def make_order(merchant: Merchant) -> Order:
    return create_order(merchant, (("FACTORY-SKU", 1, "12.00"),))


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


@tenant_factory(FulfillmentService)
def make_fulfillment_service(merchant: Merchant) -> FulfillmentService:
    """A merchant's own service (its default), as the portal makes it."""
    return services.create_fulfillment_service(
        name=f"{merchant.name} own 3PL {next(_n)}", merchant=merchant
    ).service
