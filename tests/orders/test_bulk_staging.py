"""orders.bulk's staging tables: created once per database session, not once per write, and
created again when the transaction that made one rolled back (it is gone then)."""

from __future__ import annotations

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from orders import bulk
from orders.models import EventKind, OrderEvent
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db(transaction=True)

NAMES = ("merchant_id", "order_id", "kind", "message")


def write_event(merchant, order, message: str) -> list[str]:
    """Write one event through the staging table; the SQL it ran."""
    with CaptureQueriesContext(connections["default"]) as ctx, transaction.atomic():
        bulk.write_rows(OrderEvent, NAMES, [(merchant.pk, order.pk, EventKind.NOTE, message)])
    return [q["sql"] for q in ctx.captured_queries]


def creates(sql: list[str]) -> int:
    return sum("CREATE TEMP TABLE" in q for q in sql)


def test_the_staging_table_is_created_once_per_session(make_merchant, make_order):
    merchant = make_merchant()
    order = make_order(merchant)
    with tenant_context(merchant):
        assert creates(write_event(merchant, order, "first")) == 1
        assert creates(write_event(merchant, order, "second")) == 0
        connections["default"].close()  # a new session has no temporary tables
        assert creates(write_event(merchant, order, "third")) == 1
        assert list(
            OrderEvent.objects.filter(order=order, kind=EventKind.NOTE).values_list(
                "message", flat=True
            )
        ) == ["first", "second", "third"]


def test_a_rolled_back_creation_is_made_again(make_merchant, make_order):
    merchant = make_merchant()
    order = make_order(merchant)
    with tenant_context(merchant):
        with pytest.raises(RuntimeError), transaction.atomic():
            bulk.write_rows(OrderEvent, NAMES, [(merchant.pk, order.pk, EventKind.NOTE, "lost")])
            raise RuntimeError("the page failed")
        # The CREATE was rolled back with the page: the next write creates the table again.
        assert creates(write_event(merchant, order, "kept")) == 1
        assert list(
            OrderEvent.objects.filter(order=order, kind=EventKind.NOTE).values_list(
                "message", flat=True
            )
        ) == ["kept"]


def test_behind_a_transaction_pooler_every_transaction_asks_for_the_table(
    make_merchant, make_order, monkeypatch
):
    """Under PgBouncer's transaction pooling the next transaction may run on a server session
    without the table (docs/scaling.md): no session cache then, CREATE ... IF NOT EXISTS each
    time."""
    merchant = make_merchant()
    order = make_order(merchant)
    monkeypatch.setitem(connections["default"].settings_dict, "KEELSON_TRANSACTION_POOLING", True)
    with tenant_context(merchant):
        assert creates(write_event(merchant, order, "first")) == 1
        assert creates(write_event(merchant, order, "second")) == 1
