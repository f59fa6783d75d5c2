"""The scoped managers fail closed and follow the context variable."""

from __future__ import annotations

import pytest

from tenants.models import AmazonAccount
from tenants.scope import current_merchant_ids, normalise, tenant_context

pytestmark = pytest.mark.django_db


def test_scoped_manager_returns_nothing_without_a_scope(two_merchants, make_amazon_account):
    a, _ = two_merchants
    make_amazon_account(a)
    assert current_merchant_ids() is None
    assert AmazonAccount.objects.count() == 0


def test_scoped_manager_returns_only_merchants_in_scope(two_merchants, make_amazon_account):
    a, b = two_merchants
    make_amazon_account(a)
    make_amazon_account(b)
    with tenant_context(a):
        assert set(AmazonAccount.objects.values_list("merchant_id", flat=True)) == {a.id}
    with tenant_context([a, b.id]):
        assert AmazonAccount.objects.count() == 2


def test_contexts_nest_and_restore(two_merchants):
    a, b = two_merchants
    with tenant_context(a):
        with tenant_context(b):
            assert current_merchant_ids() == {b.id}
        assert current_merchant_ids() == {a.id}
    assert current_merchant_ids() is None


def test_normalise_rejects_things_that_are_not_merchants():
    with pytest.raises(TypeError):
        normalise(True)
    with pytest.raises(TypeError):
        normalise(object())
    assert normalise(["3", 4]) == {3, 4}
