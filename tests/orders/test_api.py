"""Orders through the partner API (api.md): filters, detail with deadlines and actions, the
timeline."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from orders.models import ActorType, EventKind, OrderEvent
from tenants.scope import tenant_context
from tests.support.api import assert_problem
from tests.support.openapi import published_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant_a(two_merchants):
    return two_merchants[0]


@pytest.fixture
def key_a(make_api_key, merchant_a):
    return make_api_key(merchant=merchant_a, scopes=["orders:read"])


def ids(response):
    assert response.status_code == 200, response.content
    return [o["id"] for o in response.json()["results"]]


def test_list_shows_my_orders_newest_first(call, key_a, merchant_a, two_merchants, make_order):
    first = make_order(merchant_a)
    second = make_order(merchant_a)
    make_order(two_merchants[1])
    assert ids(call("get", "/api/v1/orders/", key_a)) == [second.id, first.id]


def test_filters_by_status_buyer_cancel_and_search(call, key_a, merchant_a, make_order):
    pending = make_order(merchant_a, status="Pending")
    cancel = make_order(merchant_a, buyer_cancel_requested=True, buyer_name="Ada Lovelace")
    sku = make_order(merchant_a, lines=(("RARE-SKU", 1, "5.00"),))
    assert ids(call("get", "/api/v1/orders/?status=Pending", key_a)) == [pending.id]
    assert ids(call("get", "/api/v1/orders/?buyer_cancel_requested=true", key_a)) == [cancel.id]
    assert ids(call("get", "/api/v1/orders/?search=lovelace", key_a)) == [cancel.id]
    assert ids(call("get", "/api/v1/orders/?search=RARE-SKU", key_a)) == [sku.id]
    assert ids(call("get", f"/api/v1/orders/?search={pending.external_id}", key_a)) == [pending.id]


def test_at_risk_and_late_filters_follow_the_deadlines_A9(call, key_a, merchant_a, make_order):
    now = timezone.now()
    fine = make_order(merchant_a)
    risky = make_order(merchant_a)
    late = make_order(merchant_a)
    with tenant_context(merchant_a):
        type(risky).objects.filter(pk=risky.pk).update(
            confirm_by=now + timedelta(days=3), warn_at=now - timedelta(days=4)
        )
        type(late).objects.filter(pk=late.pk).update(ship_by=now - timedelta(hours=1))
    assert ids(call("get", "/api/v1/orders/?at_risk=true", key_a)) == [risky.id]
    assert ids(call("get", "/api/v1/orders/?late=true", key_a)) == [late.id]
    assert fine.id in ids(call("get", "/api/v1/orders/?late=false", key_a))


@pytest.mark.parametrize(
    "query", ["status=Nope", "at_risk=maybe", "updated_after=", "merchant=1.5"]
)
def test_bad_filter_values_are_a_clear_400(call, key_a, query):
    assert_problem(call("get", f"/api/v1/orders/?{query}", key_a), 400, "validation_error")


def test_detail_shows_deadlines_flags_and_allowed_actions(call, key_a, merchant_a, make_order):
    order = make_order(merchant_a, status="Pending", purchase_date=timezone.now())
    body = call("get", f"/api/v1/orders/{order.id}/", key_a).json()
    assert body["order_number"] == order.external_id
    assert body["lines"][0]["sku"] == "SKU-1"
    assert set(body["deadlines"]) == {"ship_by", "confirm_by", "warn_at", "verify_by"}
    assert body["flags"]["in_buyer_cancel_hold"] is True
    # A1: nothing may be done with a Pending order, and each refusal says why.
    assert body["allowed_actions"] == []
    refusals = {a["action"]: a for a in body["actions"]}
    assert refusals["fulfil"]["code"] == "order_pending"
    assert refusals["fulfil"]["reason"]
    assert "sellercentral.amazon.com" in body["seller_central_url"]  # R2


def test_unshipped_order_allows_fulfilment(call, key_a, merchant_a, make_order):
    order = make_order(merchant_a, status="Unshipped")
    body = call("get", f"/api/v1/orders/{order.id}/", key_a).json()
    assert "fulfil" in body["allowed_actions"]


def test_timeline_lists_events_oldest_first(call, key_a, merchant_a, make_order):
    order = make_order(merchant_a)
    with tenant_context(merchant_a):
        for text in ("one", "two"):
            OrderEvent.objects.create(
                merchant=merchant_a,
                order=order,
                kind=EventKind.NOTE,
                message=text,
                actor_type=ActorType.USER,
                actor="Ada",
            )
    body = call("get", f"/api/v1/orders/{order.id}/events/", key_a).json()
    assert [e["message"] for e in body["results"]] == ["one", "two"]
    assert body["results"][0]["actor_type"] == "user"


def test_another_merchants_order_is_404(call, key_a, two_merchants, make_order):
    theirs = make_order(two_merchants[1])
    assert_problem(call("get", f"/api/v1/orders/{theirs.id}/", key_a), 404, "not_found")
    assert_problem(call("get", f"/api/v1/orders/{theirs.id}/events/", key_a), 404, "not_found")


def test_orders_need_the_orders_read_scope(call, make_api_key, merchant_a):
    key = make_api_key(merchant=merchant_a, scopes=["refunds:read"])
    assert_problem(call("get", "/api/v1/orders/", key), 403, "permission_denied")


def test_an_agency_key_filters_by_merchant(call, make_api_key, make_merchant, make_order):
    first = make_merchant()
    second = make_merchant(agency=first.agency)
    mine = make_order(first)
    other = make_order(second)
    key = make_api_key(agency=first.agency, scopes=["orders:read"])
    assert set(ids(call("get", "/api/v1/orders/", key))) == {mine.id, other.id}
    assert ids(call("get", f"/api/v1/orders/?merchant={second.id}", key)) == [other.id]


def test_an_unknown_query_parameter_is_named_in_a_400(call, key_a):
    body = assert_problem(
        call("get", "/api/v1/orders/?statuss=Pending", key_a), 400, "validation_error"
    )
    assert "statuss" in body["errors"]


@pytest.mark.parametrize("query", ["merchant=1&merchant=2", "status=Pending&status=Shipped"])
def test_a_query_parameter_given_twice_is_a_400_not_the_last_value(
    call, key_a, merchant_a, make_order, query
):
    # Found by schemathesis: the schema says `merchant` is an integer; `?merchant=x&merchant=1`
    # was read as merchant=1 (Django takes the last value) and answered 200.
    make_order(merchant_a, status="Pending")
    body = assert_problem(call("get", f"/api/v1/orders/?{query}", key_a), 400, "validation_error")
    assert body["errors"] == {query.split("=")[0]: ["Give this parameter once."]}
    limit = assert_problem(
        call("get", "/api/v1/orders/?limit=1&limit=2", key_a), 400, "validation_error"
    )
    assert set(limit["errors"]) == {"limit"}


def test_the_search_filter_refuses_what_its_schema_says_it_refuses(call, key_a, client):
    # Found by schemathesis: the schema said `search` is any string; the API refused a NUL
    # character and more than 200 characters (400). Now the schema says both.
    (search,) = [
        p
        for p in published_schema(client)["paths"]["/api/v1/orders/"]["get"]["parameters"]
        if p["name"] == "search"
    ]
    pattern, longest = search["schema"]["pattern"], search["schema"]["maxLength"]
    for text in ("", "Buyer 7", "a\x00b", "\x00", "x" * longest, "x" * (longest + 1)):
        response = call("get", "/api/v1/orders/", key_a, data={"search": text})
        allowed = bool(re.search(pattern, text)) and len(text) <= longest
        assert response.status_code == (200 if allowed else 400), (text[:10], response.content)
