"""The tenant scope behind PgBouncer in transaction pooling mode (docs/scaling.md): a client's
consecutive transactions may run on different server sessions, and several clients' on one. A
session-level scope would then leak from one client to the next; with
``DATABASE_TRANSACTION_POOLING`` the scope is set per transaction and nothing is left on the
server session. The bouncer has one server connection, so every client shares it."""

from __future__ import annotations

import pytest
from django.db import transaction

from tenants.scope import no_tenant_context, tenant_context
from tests.support.pgbouncer import running_pgbouncer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

VISIBLE = (
    "SELECT coalesce(array_agg(DISTINCT merchant_id ORDER BY merchant_id), '{}') FROM orders_order"
)


def visible(client) -> list[int]:
    with client.cursor() as cursor:
        cursor.execute(VISIBLE)
        return list(cursor.fetchone()[0])


def left_on_the_server(bouncer) -> str:
    """What a client that sets nothing finds in the (one) server session."""
    with bouncer.raw() as raw:
        return raw.execute("SELECT current_setting('app.merchant_ids', true)").fetchone()[0] or ""


@pytest.fixture
def two_merchants_with_orders(make_merchant, make_order):
    a, b = make_merchant(), make_merchant()
    make_order(a)
    make_order(b)
    return a, b


def test_with_transaction_pooling_each_client_sees_only_its_own_scope(two_merchants_with_orders):
    a, b = two_merchants_with_orders
    with (
        running_pgbouncer() as bouncer,
        bouncer.client("pooled_a", transaction_pooling=True) as one,
        bouncer.client("pooled_b", transaction_pooling=True) as two,
    ):
        # Outside atomic(): each statement in a transaction of its own, with its scope.
        with tenant_context(a):
            assert visible(one) == [a.pk]
        with tenant_context(b):
            assert visible(two) == [b.pk]
        with tenant_context(a):
            assert visible(one) == [a.pk]  # not B's, which two's statement just used
        assert left_on_the_server(bouncer) == ""

        # Inside atomic(): set once per transaction, again when the scope changes in it.
        with tenant_context(a), transaction.atomic(using="pooled_a"):
            assert visible(one) == [a.pk]
            assert visible(one) == [a.pk]
            with tenant_context(b):
                assert visible(one) == [b.pk]
        with tenant_context(b):
            assert visible(two) == [b.pk]
        with tenant_context(a), transaction.atomic(using="pooled_a"):
            assert visible(one) == [a.pk]  # a new transaction: set again
        with no_tenant_context():
            assert visible(two) == []  # fail closed
        assert left_on_the_server(bouncer) == ""


def test_a_session_scope_would_leak_through_a_transaction_pooler(two_merchants_with_orders):
    """Why the mode exists (and that this bouncer shares its server session): the session-level
    scope of direct connections, behind the same bouncer, shows one client another's rows."""
    a, b = two_merchants_with_orders
    with (
        running_pgbouncer() as bouncer,
        bouncer.client("session_a", transaction_pooling=False) as one,
        bouncer.client("session_b", transaction_pooling=False) as two,
    ):
        with tenant_context(a):
            assert visible(one) == [a.pk]
        with tenant_context(b):
            assert visible(two) == [b.pk]
        with tenant_context(a):
            assert visible(one) == [b.pk]  # one believes its scope is still set: B's rows
        assert left_on_the_server(bouncer) == str(b.pk)
