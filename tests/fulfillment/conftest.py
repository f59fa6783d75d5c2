"""Fixtures for the fulfillment tests: a merchant with a fulfillment service (and its key),
orders with fulfillment orders, and the actors of both sides."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fulfillment import services
from fulfillment.models import FulfillmentOrder, FulfillmentService
from fulfillment.services import Actor, ShipmentInput
from orders.models import Order
from tenants.models import Merchant
from tenants.scope import tenant_context

SHIPMENT = ShipmentInput(tracking_number="1Z999AA10123456784", carrier="UPS")


@dataclass
class Shop:
    """A merchant, its fulfillment service and the actors of both sides."""

    merchant: Merchant
    service: FulfillmentService
    service_key: str
    signing_secret: str
    make_order: object

    @property
    def merchant_actor(self) -> Actor:
        return Actor(services.Side.MERCHANT, "Test merchant", "user")

    @property
    def service_actor(self) -> Actor:
        return Actor.service(self.service)

    def order(self, lines=(("SKU-1", 2, "20.00"),), **fields) -> Order:
        """An Unshipped Amazon order with its fulfillment orders prepared."""
        order = self.make_order(self.merchant, lines=lines, **fields)
        with tenant_context(self.merchant):
            services.prepare_fulfillment_orders(order)
            order.refresh_from_db()
        return order

    def fo(self, order: Order) -> FulfillmentOrder:
        """The order's newest fulfillment order."""
        with tenant_context(self.merchant):
            return FulfillmentOrder.objects.filter(order=order).latest("id")

    def run(self, fn, *args, **kwargs):
        with tenant_context(self.merchant):
            return fn(*args, **kwargs)


def _shop(merchant, make_order, workflow="fulfillment_order", callback_url="") -> Shop:
    creds = services.create_fulfillment_service(
        name=f"{merchant.name} 3PL ({workflow})",
        workflow=workflow,
        merchant=merchant,
        callback_url=callback_url,
    )
    return Shop(merchant, creds.service, creds.api_key, creds.signing_secret, make_order)


@pytest.fixture
def shop(make_merchant, make_order) -> Shop:
    """A merchant with its own fulfillment-order-workflow service (default location)."""
    return _shop(make_merchant(name="Shop with a 3PL"), make_order)


@pytest.fixture
def legacy_shop(make_merchant, make_order) -> Shop:
    return _shop(make_merchant(name="Shop with a legacy 3PL"), make_order, workflow="legacy")


@pytest.fixture
def make_shop(make_merchant, make_order):
    def make(workflow="fulfillment_order", merchant=None, callback_url="") -> Shop:
        return _shop(merchant or make_merchant(), make_order, workflow, callback_url)

    return make
