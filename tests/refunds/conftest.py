"""Fixtures for the refunds tests: a merchant with an Amazon account, and its orders with
prices, taxes and shipping per line."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from orders.models import Order, OrderLine
from refunds import services
from refunds.models import Refund
from refunds.policy import RequestedLine
from tenants.models import AmazonAccount, Merchant
from tenants.scope import tenant_context

ACTOR = services.Actor("user", "Test merchant")


@dataclass
class Shop:
    merchant: Merchant
    account: AmazonAccount
    make_order: object

    def order(self, lines=(("SKU-1", 2, "50.00", 2),), **fields) -> Order:
        """An Amazon order (Shipped unless told), paid. A line is (sku, quantity, price,
        shipped) plus optional dict of more money fields (item_tax, shipping_price, ...)."""
        extra = {}
        plain = []
        for i, line in enumerate(lines):
            if line and isinstance(line[-1], dict):
                extra[i] = line[-1]
                line = line[:-1]
            plain.append(line)
        fields.setdefault("status", "Shipped")
        fields.setdefault("financial_status", "paid")
        fields.setdefault("amazon_account", self.account)
        order = self.make_order(self.merchant, lines=plain, **fields)
        with tenant_context(self.merchant):
            for i, line in enumerate(order.lines.order_by("id")):
                for name, value in extra.get(i, {}).items():
                    setattr(line, name, Decimal(value))
                line.save()
        return order

    def lines(self, order: Order) -> list[OrderLine]:
        with tenant_context(self.merchant):
            return list(order.lines.order_by("id"))

    def run(self, fn, *args, **kwargs):
        with tenant_context(self.merchant):
            return fn(*args, **kwargs)

    def refund(self, order: Order, lines=(), shipping=None, **kwargs) -> Refund:
        requested = [
            RequestedLine(line_id, quantity, None if amount is None else Decimal(amount))
            for line_id, quantity, amount in lines
        ]
        return self.run(
            services.create_refund,
            order.pk,
            actor=kwargs.pop("actor", ACTOR),
            lines=requested,
            shipping_amount=None if shipping is None else Decimal(shipping),
            **kwargs,
        )

    def cancel(self, order: Order, reason="NoInventory", refund=None, **kwargs) -> Refund:
        return self.run(
            services.cancel_order,
            order.pk,
            actor=kwargs.pop("actor", ACTOR),
            reason=reason,
            refund=None if refund is None else Decimal(refund),
            **kwargs,
        )

    def fresh(self, obj):
        with tenant_context(self.merchant):
            obj.refresh_from_db()
        return obj


@pytest.fixture
def shop(make_merchant, make_amazon_account, make_order) -> Shop:
    merchant = make_merchant(name="Refunding merchant")
    return Shop(merchant, make_amazon_account(merchant), make_order)
