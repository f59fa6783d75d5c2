"""orders.bulk: ``write_linked`` writes parent rows and their children in one statement, each
child row with the primary key of the parent row it names; ``update`` is ``bulk_update`` in one
statement."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from orders import bulk
from orders.models import EventKind, Order, OrderEvent
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

ORDER = (
    "merchant_id",
    "channel",
    "external_id",
    "currency",
    "shipping_address",
    "purchase_date",
    "source_updated_at",
)
EVENT = ("merchant_id", "order_id", "kind", "message", "data")


def orders(merchant, *rows) -> bulk.Rows:
    return bulk.Rows(
        Order,
        ORDER,
        [(merchant.pk, "amazon", external_id, *rest) for external_id, *rest in rows],
        unique_fields=["merchant", "channel", "external_id"],
        update_fields=["currency"],
    )


def test_each_child_gets_its_parents_key_and_every_table_keeps_the_order_given(make_merchant):
    merchant = make_merchant()
    now = timezone.now()
    parents = orders(
        merchant,
        ("B-2", "USD", {"City": "Oslo"}, now, now),
        ("A-1", "USD", {}, now, now),
    )
    events = bulk.Rows(
        OrderEvent,
        EVENT,
        [
            (merchant.pk, "A-1", EventKind.NOTE, "first", {"n": 1}),
            (merchant.pk, "B-2", EventKind.NOTE, "second", {"n": 2}),
            (merchant.pk, "A-1", EventKind.NOTE, "third", {}),
        ],
    )
    with tenant_context(merchant):
        pks = bulk.write_linked(parents, "external_id", [(events, "order_id")])
        assert pks["B-2"] < pks["A-1"]
        assert Order.objects.get(pk=pks["B-2"]).shipping_address == {"City": "Oslo"}
        written = list(OrderEvent.objects.order_by("id").values_list("order_id", "message", "data"))
    assert written == [
        (pks["A-1"], "first", {"n": 1}),
        (pks["B-2"], "second", {"n": 2}),
        (pks["A-1"], "third", {}),
    ]


def test_a_conflict_updates_only_the_fields_asked(make_merchant):
    merchant = make_merchant()
    now = timezone.now()
    with tenant_context(merchant):
        first = bulk.write_linked(
            orders(merchant, ("A-1", "USD", {"City": "Oslo"}, now, now)), "external_id"
        )
        again = bulk.write_linked(orders(merchant, ("A-1", "EUR", {}, now, now)), "external_id")
        order = Order.objects.get()
    assert first == again == {"A-1": order.pk}
    assert (order.currency, order.shipping_address) == ("EUR", {"City": "Oslo"})


def test_a_child_of_no_parent_given_is_refused(make_merchant):
    merchant = make_merchant()
    now = timezone.now()
    orphan = bulk.Rows(OrderEvent, EVENT, [(merchant.pk, "Z-9", EventKind.NOTE, "lost", {})])
    with tenant_context(merchant):
        with pytest.raises(IntegrityError), transaction.atomic():
            bulk.write_linked(
                orders(merchant, ("A-1", "USD", {}, now, now)),
                "external_id",
                [(orphan, "order_id")],
            )
        assert not Order.objects.exists() and not OrderEvent.objects.exists()


def test_update_writes_the_fields_asked_of_the_rows_given_and_nothing_else(make_merchant):
    merchant = make_merchant()
    now = timezone.now()
    rows = [(f"A-{n}", "USD", {"n": n}, now, now) for n in range(3)]
    with tenant_context(merchant):
        pks = bulk.write_linked(orders(merchant, *rows), "external_id")
        changed = [
            Order(pk=pks["A-0"], currency="EUR", shipping_address={}),
            Order(pk=pks["A-2"], currency="JPY", shipping_address={}),
        ]
        assert bulk.update(Order, changed, ["currency"]) == 2
        stored = dict(Order.objects.values_list("external_id", "currency"))
        addresses = dict(Order.objects.values_list("external_id", "shipping_address"))
    assert stored == {"A-0": "EUR", "A-1": "USD", "A-2": "JPY"}
    assert addresses == {f"A-{n}": {"n": n} for n in range(3)}


def test_rows_that_differ_only_in_json_or_not_at_all_are_written(make_merchant):
    merchant = make_merchant()
    now = timezone.now()
    names = ("merchant_id", "channel", "currency", "purchase_date", "source_updated_at")
    same = bulk.Rows(Order, (*names, "external_id", "shipping_address"), [])
    with tenant_context(merchant):
        one = bulk.write_linked(
            bulk.Rows(
                Order,
                (*names, "external_id", "shipping_address"),
                [(merchant.pk, "amazon", "USD", now, now, "A-1", {"City": "Oslo"})],
            ),
            "external_id",
        )
        assert bulk.write_linked(same, "external_id") == {}
        order = Order.objects.get()
    assert one == {"A-1": order.pk} and order.shipping_address == {"City": "Oslo"}
