"""DirectRepresentation (foundation/api/serializers.py) outputs what DRF outputs, value for value:
for the order list's and detail's serializers, over orders with every kind of value (null
dates, choices, booleans, decimals, JSON, sections), in UTC and in another current time zone;
and so do the list's plain rows (``represent_rows``), which build no model instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from rest_framework import serializers

from foundation.api.serializers import DirectRepresentation
from orders import selectors
from orders.api import OrderDetailSerializer, OrderSerializer
from orders.models import Order
from tenants.scope import tenant_context
from tests.support.orders import create_order

pytestmark = pytest.mark.django_db


def drf_only(serializer_class):
    """The same serializer with DRF's own to_representation."""
    return type(
        f"Plain{serializer_class.__name__}",
        (serializer_class,),
        {"to_representation": serializers.ModelSerializer.to_representation},
    )


@pytest.fixture
def orders(make_merchant):
    merchant = make_merchant()
    made = [
        create_order(merchant, (("SKU-A", 2, "25.00"),)),
        create_order(
            merchant,
            (("SKU-B", 1, "9.99", 1),),
            status="Shipped",
            is_prime=True,
            buyer_cancel_requested=True,
            buyer_cancel_reason="changed mind",
            latest_ship_date=None,
            total_amount=Decimal("1234.50"),
            purchase_date=datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC),
        ),
        create_order(
            merchant, (), status="Pending", buyer_name="", marketplace_id="A1PA6795UKMFR9"
        ),
    ]
    with tenant_context(merchant):
        yield list(selectors.order_detail().filter(pk__in=[o.pk for o in made]).order_by("id"))


def test_the_mixin_is_in_use():
    assert issubclass(OrderSerializer, DirectRepresentation)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Bangkok", "America/New_York"])
@pytest.mark.parametrize("serializer_class", [OrderSerializer, OrderDetailSerializer])
def test_direct_output_is_drfs_output(orders, serializer_class, zone):
    with timezone.override(zone):
        direct = serializer_class(orders, many=True).data
        plain = drf_only(serializer_class)(orders, many=True).data
    assert [dict(row) for row in direct] == [dict(row) for row in plain]
    assert list(direct[0]) == list(plain[0])  # the same keys in the same order
    if zone == "UTC":
        assert direct[1]["purchase_date"] == "2026-03-29T01:30:15.123456Z"
    assert direct[1]["latest_ship_date"] is None
    assert direct[1]["total_amount"] == "1234.50"


@pytest.mark.parametrize("zone", ["UTC", "Asia/Bangkok", "America/New_York"])
def test_the_lists_plain_rows_give_drfs_output(orders, zone):
    with tenant_context(orders[0].merchant_id), timezone.override(zone):
        rows = (
            Order.objects.filter(pk__in=[o.pk for o in orders])
            .order_by("id")
            .values(*OrderSerializer.row_columns())
        )
        direct = OrderSerializer.represent_rows(rows)
        plain = drf_only(OrderSerializer)(orders, many=True).data
    assert direct == [dict(row) for row in plain]
    assert list(direct[0]) == list(plain[0])


def test_a_serializer_that_needs_its_instances_cannot_be_read_from_rows():
    """The detail has method fields and nested sections: refused at once, never a different
    output."""
    with pytest.raises(ImproperlyConfigured, match="not a plain column"):
        OrderDetailSerializer.row_columns()


def test_a_column_read_lazily_is_still_read(orders):
    """The list reads only its columns: a deferred one is loaded as DRF would load it."""
    with tenant_context(orders[0].merchant_id):
        rows = list(Order.objects.filter(pk=orders[0].pk).only("id", "merchant_id"))
        assert OrderSerializer(rows[0]).data == drf_only(OrderSerializer)(orders[0]).data


def test_a_naive_or_string_datetime_goes_through_drf():
    class Row(DirectRepresentation, serializers.ModelSerializer):
        class Meta:
            model = Order
            fields = ["id", "purchase_date"]

    order = Order(id=1, purchase_date=datetime(2026, 1, 1, 12, 0) + timedelta(0))
    with timezone.override("UTC"):
        assert (
            Row(order).data
            == drf_only(Row)(order).data
            == {
                "id": 1,
                "purchase_date": "2026-01-01T12:00:00Z",
            }
        )


def test_fields_built_once_are_bound_anew_for_each_serializer(orders):
    """FieldsBuiltOnce: two serializers never share a bound field (each has its own parent and
    context), and a nested serializer's children are its own."""
    first, second = OrderDetailSerializer(orders[0]), OrderDetailSerializer(orders[1])
    for name, field in first.fields.items():
        assert field is not second.fields[name]
        assert field.parent is first and second.fields[name].parent is second
    assert first.fields["lines"].child is not second.fields["lines"].child
    assert first.fields["lines"].child.fields["sku"].root is first
    assert first.data["id"] == orders[0].pk and second.data["id"] == orders[1].pk
