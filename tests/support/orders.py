"""One way to make an order in tests: the `make_order` fixture, the API and portal isolation
factories all use it."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from tenants.scope import tenant_context

_counter = itertools.count(1)


def create_order(merchant, lines=(("SKU-1", 2, "25.00"),), *, recompute=True, now=None, **fields):
    """An Amazon order with lines, created in the merchant's scope, its policy deadlines
    computed. `lines`: (sku, quantity, price) or (sku, quantity, price, shipped). Every order
    has a buyer e-mail address, so the R4 checks have something to catch."""
    from orders.models import Order, OrderLine
    from orders.services import recompute_deadlines

    n = next(_counter)
    purchase = fields.setdefault("purchase_date", timezone.now() - timedelta(days=1))
    fields.setdefault("external_id", f"111-{n:07d}-{merchant.pk:07d}")
    fields.setdefault("status", "Unshipped")
    fields.setdefault("source_updated_at", purchase)
    fields.setdefault("latest_ship_date", purchase + timedelta(days=2))
    fields.setdefault("currency", "USD")
    fields.setdefault("marketplace_id", "ATVPDKIKX0DER")
    fields.setdefault("buyer_name", f"Buyer {n}")
    fields.setdefault("buyer_email", f"buyer{n}@marketplace.amazon.example")
    fields.setdefault("total_amount", sum(Decimal(line[2]) for line in lines))
    with tenant_context(merchant):
        order = Order.objects.create(merchant=merchant, **fields)
        for i, (sku, quantity, price, *shipped) in enumerate(lines, start=1):
            OrderLine.objects.create(
                merchant=merchant,
                order=order,
                external_id=f"{n:07d}{i:03d}",
                sku=sku,
                title=f"Product {sku}",
                quantity_ordered=quantity,
                quantity_shipped=shipped[0] if shipped else 0,
                item_price=Decimal(price),
            )
        if recompute:
            recompute_deadlines([order], now=now)
            order.refresh_from_db()
    return order
