"""Shared fixtures. The test database is created and migrated by the owner role; the
application role (`default`) reads it as a mirror, so row-level security applies in tests
exactly as in production."""

from __future__ import annotations

import itertools

import pytest

from tenants.scope import tenant_context
from tests.support.api import call, client, make_api_key  # noqa: F401  (fixtures)

_counter = itertools.count(1)


def pytest_collection_modifyitems(items):
    # Every database test may use both aliases. Without "owner" in `databases`, Django would
    # not flush between transactional tests: the application alias is a test mirror.
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is None:
            continue
        kwargs = dict(marker.kwargs)
        if kwargs.get("databases") in (None, ["default"], ("default",), {"default"}):
            kwargs["databases"] = "__all__"
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)


@pytest.fixture(scope="session", autouse=True)
def _close_connections_before_test_databases_are_dropped(django_db_setup, django_db_blocker):
    # The application alias is a test mirror: Django drops the database through the owner
    # alias and would find the application connection still open.
    yield
    from django.db import connections

    with django_db_blocker.unblock():
        connections.close_all()


@pytest.fixture
def make_agency(db):
    from tenants.models import Agency

    def make(**fields):
        n = next(_counter)
        fields.setdefault("name", f"Agency {n}")
        fields.setdefault("slug", f"agency-{n}")
        return Agency.objects.create(**fields)

    return make


@pytest.fixture
def make_merchant(db, make_agency):
    from tenants.models import Merchant

    def make(agency=None, **fields):
        n = next(_counter)
        fields.setdefault("name", f"Merchant {n}")
        fields.setdefault("slug", f"merchant-{n}")
        return Merchant.objects.create(agency=agency or make_agency(), **fields)

    return make


@pytest.fixture
def make_user(db):
    from tenants.models import Membership, User

    def make(role=None, agency=None, merchant=None, password="pw-Keelson-123", **fields):
        n = next(_counter)
        fields.setdefault("username", f"user{n}")
        fields.setdefault("email", f"user{n}@example.com")
        user = User.objects.create_user(password=password, **fields)
        if role:
            Membership.objects.create(user=user, role=role, agency=agency, merchant=merchant)
        return user

    return make


@pytest.fixture
def make_amazon_account(db):
    from tenants.models import AmazonAccount

    def make(merchant, **fields):
        n = next(_counter)
        fields.setdefault("selling_partner_id", f"A{n:012d}")
        fields.setdefault("marketplace_ids", ["ATVPDKIKX0DER"])
        fields.setdefault("lwa_refresh_token", f"Atzr|refresh-{n}")
        with tenant_context(merchant):
            return AmazonAccount.objects.create(merchant=merchant, **fields)

    return make


@pytest.fixture
def two_merchants(make_merchant):
    """Two merchants of two different agencies: A (ours) and B (someone else's)."""
    return make_merchant(name="Alpha Goods"), make_merchant(name="Bravo Supplies")


@pytest.fixture
def make_order(db):
    """An Amazon order with lines, created in the merchant's scope, its policy deadlines
    computed. `lines`: (sku, quantity, price) or (sku, quantity, price, shipped). Every order
    has a buyer e-mail address, so the R4 checks have something to catch."""
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from orders.models import Order, OrderLine
    from orders.services import recompute_deadlines

    def make(merchant, lines=(("SKU-1", 2, "25.00"),), *, recompute=True, now=None, **fields):
        n = next(_counter)
        purchase = fields.setdefault("purchase_date", timezone.now() - timedelta(days=1))
        fields.setdefault("external_id", f"111-{n:07d}-{n:07d}")
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

    return make
