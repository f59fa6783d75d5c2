"""No N+1 in the partner API (issue 14): every list route of the `api` namespace answers a page
of 2 rows and a page of 20 rows with the same number of SQL queries.

The routes are walked from the URL conf (tests/api/isolation.py), so a new list route is covered
the day it is added: a flat list grows through the isolation harness's factory of its model, one
row per merchant of an agency (so per-merchant lookups count too, under an agency key); a list
nested under an object (``/orders/{pk}/events/``) needs a grower in ``NESTED`` below, and
``test_every_list_route_is_measured`` says so when one is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.mixins import ListModelMixin

from orders.models import ActorType, EventKind, Order, OrderEvent
from tenants.models import Merchant
from tenants.scope import tenant_context
from tests.api.isolation import Route, api_routes, object_for
from tests.portal.test_changelist_queries import repeated
from tests.support.orders import create_order

pytestmark = pytest.mark.django_db

SMALL, LARGE = 2, 20


def _order_with_events(merchant: Merchant, n: int) -> dict[str, Any]:
    order = create_order(merchant, (("SKU-Q", 1, "10.00"),))
    with tenant_context(merchant):
        OrderEvent.objects.bulk_create(
            OrderEvent(
                merchant=merchant,
                order=order,
                kind=EventKind.NOTE,
                message=f"note {i}",
                actor_type=ActorType.USER,
                actor="someone",
            )
            for i in range(n)
        )
    return {"pk": order.pk}


def _order_with_refunds(merchant: Merchant, n: int) -> dict[str, Any]:
    """A shipped, paid order of n lines with one refund per line."""
    from refunds import services
    from refunds.policy import RequestedLine

    order = create_order(merchant, tuple((f"SKU-R{i}", 1, "10.00") for i in range(n)))
    with tenant_context(merchant):
        Order.objects.filter(pk=order.pk).update(status="Shipped", financial_status="paid")
        order.lines.update(quantity_shipped=1)
        for line in order.lines.order_by("id"):
            services.create_refund(
                order.pk,
                actor=services.Actor.system("query-count test"),
                lines=[RequestedLine(line.pk, 1)],
            )
    return {"pk": order.pk}


# Lists nested under one object: make that object with n rows in its list, return its URL kwargs.
NESTED: dict[str, Callable[[Merchant, int], dict[str, Any]]] = {
    "order-events": _order_with_events,
    "order-refunds": _order_with_refunds,
}


def is_list(route: Route) -> bool:
    actions = getattr(route.callback, "actions", None)
    if actions is not None:
        return actions.get("get") == "list"
    cls = route.view_class
    return cls is not None and issubclass(cls, ListModelMixin) and hasattr(cls, "get")


def list_routes() -> list[Route]:
    return sorted((r for r in api_routes() if not r.is_public and is_list(r)), key=lambda r: r.name)


def test_every_list_route_is_measured():
    names = {r.name for r in list_routes()}
    assert {"order-list", "merchant-list", "fulfillment-order-list", "order-events"} <= names
    nested_without_grower = [r.name for r in list_routes() if r.kwargs and r.name not in NESTED]
    assert not nested_without_grower, (
        f"list routes nested under an object need a grower in NESTED: {nested_without_grower}"
    )


def _page(route: Route, n: int, make_agency, make_merchant, make_api_key) -> tuple[str, str]:
    """A key and the URL of a list of n rows."""
    agency = make_agency()
    key = make_api_key(agency=agency)
    if route.name in NESTED:
        kwargs = NESTED[route.name](make_merchant(agency=agency), n)
        return key, reverse(f"api:{route.name}", kwargs=kwargs)
    for _ in range(n):
        object_for(route, make_merchant(agency=agency))
    return key, reverse(f"api:{route.name}")


def _queries(call, key: str, url: str) -> tuple[int, list[str], int]:
    call("get", url, key=key)  # warm: the key's last_used_at write, per-process caches
    with CaptureQueriesContext(connections["default"]) as ctx:
        response = call("get", url, key=key, data={"limit": 50})
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    rows = len(body.get("results", body) if isinstance(body, dict) else body)
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries], rows


@pytest.mark.parametrize("route", list_routes(), ids=lambda r: r.name)
def test_a_list_page_costs_the_same_queries_for_2_rows_as_for_20(
    route, call, make_agency, make_merchant, make_api_key
):
    small, small_sql, small_rows = _queries(
        call, *_page(route, SMALL, make_agency, make_merchant, make_api_key)
    )
    large, large_sql, large_rows = _queries(
        call, *_page(route, LARGE, make_agency, make_merchant, make_api_key)
    )
    # The lists hold what was made (a nested one may hold more: the order's own events).
    assert small_rows >= SMALL and large_rows >= LARGE, (small_rows, large_rows)
    assert large == small, (
        f"{route.path}: {small} queries for {small_rows} rows, {large} for {large_rows}; "
        "repeated:\n" + repeated(small_sql, large_sql)
    )


def test_the_order_detail_costs_the_same_queries_for_1_line_as_for_10(
    call, make_merchant, make_api_key
):
    """The detail's assessment reads the lines and merchant the detail already read (no query
    per line, and none for them again)."""
    merchant = make_merchant()
    key = make_api_key(merchant=merchant)
    counts = []
    for n in (1, 10):
        order = create_order(merchant, tuple((f"SKU-D{i}", 1, "5.00") for i in range(n)))
        url = reverse("api:order-detail", kwargs={"pk": order.pk})
        count, sql, _ = _queries(call, key, url)
        counts.append(count)
        assert sum('FROM "orders_orderline"' in q for q in sql) == 1, sql
        merchant_reads = 'FROM "tenants_merchant" WHERE "tenants_merchant"."id" ='
        assert not [q for q in sql if merchant_reads in q], "the merchant is read again"
    assert counts[0] == counts[1], counts


def test_the_order_detail_reads_each_table_once_R6(call, make_merchant, make_api_key):
    """The refunds section's rows answer R6 (refunded on Amazon?) too, and the marketplace's
    rule is read with the order: one statement per table, whatever the order holds."""
    from refunds.models import Refund, RefundKind, RefundOrigin, RefundStatus

    merchant = make_merchant()
    key = make_api_key(merchant=merchant)
    order = create_order(merchant, (("SKU-E", 1, "5.00"),), status="Shipped")
    with tenant_context(merchant):
        Refund.objects.create(
            merchant=merchant,
            order=order,
            kind=RefundKind.REFUND,
            origin=RefundOrigin.AMAZON,
            status=RefundStatus.SUCCEEDED,
            currency=order.currency,
        )
    url = reverse("api:order-detail", kwargs={"pk": order.pk})
    _, sql, _ = _queries(call, key, url)
    assert len(_reading(sql, "refunds_refund")) == 1, sql
    assert not _reading(sql, "orders_marketplacepolicy")
    body = call("get", url, key=key).json()
    # R6: a refund Amazon reports (made in Seller Central) leaves no refund to make here.
    assert "refund" not in body["allowed_actions"]
    assert [r["origin"] for r in body["refunds"]] == ["amazon"]


def _reading(sql: list[str], table: str) -> list[str]:
    """The statements that read ``table`` as their own (not in a subquery of another's)."""
    return [q for q in sql if q.lstrip().startswith(f'SELECT "{table}".')]


def test_an_order_without_fulfillments_or_refunds_reads_none_of_their_tables(
    call, make_merchant, make_api_key
):
    """The order's own statement tells which sections hold rows (most orders have no refund,
    and no fulfillment order without a fulfillment service): an empty section costs no
    statement, and R6 is answered without one too."""
    merchant = make_merchant()
    key = make_api_key(merchant=merchant)
    order = create_order(merchant, (("SKU-N", 1, "5.00"),), status="Shipped")
    url = reverse("api:order-detail", kwargs={"pk": order.pk})
    _, sql, _ = _queries(call, key, url)
    for table in ("refunds_refund", "fulfillment_fulfillmentorder", "fulfillment_fulfillment"):
        assert not _reading(sql, table), (table, sql)
    order_statement = _reading(sql, "orders_order")
    assert len(order_statement) == 1 and 'FROM "refunds_refund"' in order_statement[0]
    body = call("get", url, key=key).json()
    assert (body["fulfillment_orders"], body["fulfillments"], body["refunds"]) == ([], [], [])
    assert "refund" in body["allowed_actions"]  # R6: nothing refunded on Amazon
