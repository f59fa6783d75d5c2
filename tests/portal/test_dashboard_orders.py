"""The dashboard's order cards count the orders that need the merchant, in scope only, and
link to the same orders (A3, A9, B1, A1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import Order
from tenants.scope import tenant_context
from tests.portal.conftest import changelist_pks

pytestmark = pytest.mark.django_db


def cards(response) -> dict:
    return {card["key"]: card for card in response.context["order_cards"]}


def test_cards_stay_empty_until_orders_exist(tenancy, login):
    response = login(tenancy.merchant_admin).get("/")
    assert {c["value"] for c in cards(response).values()} == {None}
    assert "No orders synced yet" in response.content.decode()


def test_cards_count_my_orders_and_link_to_them(tenancy, login, make_order):
    now = timezone.now()
    a1 = tenancy.a1
    unshipped = make_order(a1)
    pending = make_order(a1, status="Pending", purchase_date=now)
    cancel = make_order(a1, buyer_cancel_requested=True)
    make_order(a1, status="Shipped", lines=(("S", 1, "5.00", 1),))
    make_order(a1, fulfillment_channel="AFN")  # Amazon ships these: not ours to ship (R5)
    late = make_order(a1)
    with tenant_context(a1):
        Order.objects.filter(pk=late.pk).update(ship_by=now - timedelta(hours=2))
    for _ in range(3):
        make_order(tenancy.b1)  # another agency's: never counted

    client = login(tenancy.merchant_admin)
    shown = cards(client.get("/"))
    assert shown["unshipped"]["value"] == 3  # unshipped, cancel, late
    assert shown["pending"]["value"] == 1
    assert shown["buyer_cancel"]["value"] == 1
    assert shown["late"]["value"] == 1
    assert shown["at_risk"]["value"] == 0

    for key, expected in [
        ("unshipped", {unshipped.pk, cancel.pk, late.pk}),
        ("pending", {pending.pk}),
        ("buyer_cancel", {cancel.pk}),
        ("late", {late.pk}),
    ]:
        assert changelist_pks(client.get(shown[key]["link"])) == expected, key
