"""Isolation-harness factory (tests/portal/test_isolation.py) for the portal's refund pages."""

from __future__ import annotations

from orders.models import Order
from refunds import services
from refunds.models import Refund
from refunds.policy import RequestedLine
from tenants.models import Merchant
from tenants.scope import tenant_context
from tests.fulfillment.factories import make_order
from tests.support.tenant_factories import tenant_factory


@tenant_factory(Refund)
def make_refund(merchant: Merchant) -> Refund:
    """A refund of one of the merchant's orders, shipped and paid."""
    order = make_order(merchant)
    with tenant_context(merchant):
        Order.objects.filter(pk=order.pk).update(status="Shipped", financial_status="paid")
        order.lines.update(quantity_shipped=1)
        line = order.lines.get()
        return services.create_refund(
            order.pk,
            actor=services.Actor.system("isolation harness"),
            lines=[RequestedLine(line.pk, 1)],
        )
