"""Bearer API keys: who gets in, what they see, and that nothing of one request's scope
survives into the next on the same thread."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tenants.models import ApiKey
from tenants.scope import current_merchant_ids
from tenants.services import revoke_api_key
from tests.support.api import assert_problem

pytestmark = pytest.mark.django_db


def test_a_revoked_key_is_401(call, two_merchants, make_api_key):
    key = make_api_key(merchant=two_merchants[0])
    assert call("get", "/api/v1/merchants/", key=key).status_code == 200
    revoke_api_key(api_key=ApiKey.objects.get(prefix=key[:12]))
    body = assert_problem(call("get", "/api/v1/merchants/", key=key), 401, "not_authenticated")
    assert "revoked" in body["detail"]


def test_no_key_is_401(call):
    assert_problem(call("get", "/api/v1/merchants/"), 401, "not_authenticated")


def test_the_scope_of_one_request_does_not_leak_into_the_next(call, two_merchants, make_api_key):
    a, b = two_merchants
    key_a, key_b = make_api_key(merchant=a), make_api_key(merchant=b)

    first = call("get", "/api/v1/merchants/", key=key_a)
    assert current_merchant_ids() is None
    second = call("get", "/api/v1/merchants/", key=key_b)
    third = call("get", "/api/v1/merchants/")

    assert [m["id"] for m in first.json()["results"]] == [a.pk]
    assert [m["id"] for m in second.json()["results"]] == [b.pk]
    assert third.status_code == 401
    assert current_merchant_ids() is None


def test_a_failed_authentication_leaves_no_scope_behind(call, two_merchants, make_api_key):
    key = make_api_key(merchant=two_merchants[0])
    call("get", "/api/v1/merchants/", key=key)
    call("get", "/api/v1/merchants/", key="kls_wrong")  # `call` asserts no scope is left
    assert current_merchant_ids() is None


def test_last_used_at_is_recorded_at_most_once_a_minute(call, two_merchants, make_api_key):
    raw = make_api_key(merchant=two_merchants[0])
    key = ApiKey.objects.get(prefix=raw[:12])
    assert key.last_used_at is None

    before = timezone.now()
    call("get", "/api/v1/merchants/", key=raw)
    key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use is not None and first_use >= before

    call("get", "/api/v1/merchants/", key=raw)
    key.refresh_from_db()
    assert key.last_used_at == first_use  # within the minute: no write

    ApiKey.objects.filter(pk=key.pk).update(last_used_at=first_use - timedelta(minutes=5))
    call("get", "/api/v1/merchants/", key=raw)
    key.refresh_from_db()
    assert key.last_used_at >= before


def test_a_failed_request_does_not_touch_last_used_at_of_other_keys(
    call, two_merchants, make_api_key
):
    raw = make_api_key(merchant=two_merchants[0])
    call("get", "/api/v1/merchants/", key=raw + "x")
    assert ApiKey.objects.get(prefix=raw[:12]).last_used_at is None
