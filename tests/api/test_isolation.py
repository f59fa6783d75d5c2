"""Tenant isolation over every API route (issue 2, item 10): walks the `api` URL namespace, so a
new route is covered the day it is added.

For every route that needs a key: no key and a revoked key are 401, a key without the route's
scope is 403, and with a key of merchant A (all scopes), merchant B's object is 404 (never 403:
its existence is not revealed) while A's own is found; lists hold A's rows and never B's.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.api_auth import ANY_SCOPE, declared_scope
from tenants.models import ApiKey, ApiScope
from tenants.services import revoke_api_key
from tests.api.isolation import MissingFactory, Route, api_routes, object_for, url_kwargs_for
from tests.support.api import ALL_SCOPES, assert_problem

pytestmark = pytest.mark.django_db

PUBLIC_ROUTES = {"schema", "docs", "redoc"}


def keyed_routes() -> list[Route]:
    return [r for r in api_routes() if not r.is_public]


@pytest.fixture
def tenants(two_merchants, make_api_key):
    a, b = two_merchants
    return a, b, make_api_key(merchant=a, scopes=ALL_SCOPES)


def url(route: Route, kwargs: dict | None = None) -> str:
    assert route.name, f"give the route {route.path} a name, so it can be reversed and tested"
    return reverse(f"api:{route.name}", kwargs=kwargs or None)


def kwargs_or_dummy(route: Route) -> dict:
    return {k: 1 for k in route.kwargs}


def test_the_walk_finds_the_routes_we_know():
    names = {r.name for r in api_routes()}
    assert {"merchant-list", "merchant-detail", *PUBLIC_ROUTES} <= names


def test_only_the_schema_and_docs_are_public():
    public = {r.name for r in api_routes() if r.is_public}
    assert public == PUBLIC_ROUTES, (
        f"public API routes {public - PUBLIC_ROUTES} take no API key: give them HasScope"
    )


def test_every_route_declares_the_scope_of_every_method():
    missing = [
        f"{method} {r.path} ({r.view_class.__name__})"
        for r in keyed_routes()
        for method in r.methods
        if not declared_scope(r.view_class, method)
    ]
    assert not missing, f"declare required_scope(s) on: {missing}"
    for r in keyed_routes():
        for method in r.methods:
            scope = declared_scope(r.view_class, method)
            assert scope == ANY_SCOPE or scope in ApiScope.values, (r.path, method, scope)


def test_every_route_is_401_without_a_key_or_with_a_revoked_one(call, tenants, make_api_key):
    a, _, _ = tenants
    revoked = make_api_key(merchant=a)
    revoke_api_key(api_key=ApiKey.objects.get(prefix=revoked[:12]))
    for route in keyed_routes():
        for method in route.methods:
            target = url(route, kwargs_or_dummy(route))
            assert_problem(call(method, target), 401, "not_authenticated")
            assert_problem(call(method, target, key=revoked), 401, "not_authenticated")


def test_every_route_is_403_for_a_key_without_its_scope(call, tenants, make_api_key):
    a, _, _ = tenants
    checked = 0
    for route in keyed_routes():
        for method in route.methods:
            needed = declared_scope(route.view_class, method)
            if needed == ANY_SCOPE:
                continue
            key = make_api_key(merchant=a, scopes=[s for s in ALL_SCOPES if s != needed])
            response = call(method, url(route, kwargs_or_dummy(route)), key=key)
            body = assert_problem(response, 403, "permission_denied")
            assert needed in body["detail"]
            checked += 1
    if not checked:
        pytest.skip("no route needs a particular scope yet (tests/api/test_errors.py covers 403)")


def test_another_tenants_object_is_404_on_every_route_with_an_id(call, tenants):
    a, b, key = tenants
    missing, checked = [], 0
    for route in keyed_routes():
        if not route.kwargs:
            continue
        try:
            theirs, ours = url_kwargs_for(route, b), url_kwargs_for(route, a)
        except MissingFactory as exc:
            missing.append(str(exc))
            continue
        for method in route.methods:
            response = call(method, url(route, theirs), key=key, data={})
            assert response.status_code == 404, (
                f"{method} {url(route, theirs)} with another tenant's object answered "
                f"{response.status_code}: it must be 404"
                + ("" if method == "GET" else " (look the object up before validating the body)")
            )
            assert_problem(response, 404, "not_found")
        if "GET" in route.methods:
            assert call("get", url(route, ours), key=key).status_code == 200, route.path
        checked += 1
    assert not missing, "\n".join(missing)
    assert checked, "expected at least one route with an id (merchant-detail)"


def test_lists_hold_our_rows_and_never_another_tenants(call, tenants):
    a, b, key = tenants
    missing, checked = [], 0
    for route in keyed_routes():
        if route.kwargs or "GET" not in route.methods:
            continue
        try:
            theirs, ours = object_for(route, b), object_for(route, a)
        except MissingFactory as exc:
            missing.append(str(exc))
            continue
        seen, next_url = [], url(route) + "?limit=200"
        while next_url:
            response = call("get", next_url, key=key)
            assert response.status_code == 200, (route.path, response.content[:300])
            page = response.json()
            assert "results" in page, f"{route.path}: a list answers a page with `results`"
            seen += page["results"]
            next_url = page["next"]
        ids = {row["id"] for row in seen}
        assert ours.pk in ids, f"{route.path} does not list our own {type(ours).__name__}"
        assert theirs.pk not in ids, f"{route.path} lists another tenant's row {theirs.pk}"
        for row in seen:
            if "merchant" in row:
                merchant = row["merchant"]
                merchant_id = merchant["id"] if isinstance(merchant, dict) else merchant
                assert merchant_id == a.pk, (route.path, row)
        checked += 1
    assert not missing, "\n".join(missing)
    assert checked, "expected at least one list route (merchant-list)"
