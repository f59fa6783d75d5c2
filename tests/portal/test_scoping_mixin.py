"""TenantScopedAdminMixin on a ModelAdmin that adds tenant rows: the merchant field and the
foreign-key choices offer only what the user may use. (No portal ModelAdmin adds tenant rows
yet, so this builds one on a throwaway site, the way later apps will.)"""

from __future__ import annotations

import pytest
from django import forms
from django.test import RequestFactory
from unfold.admin import ModelAdmin

from orders.models import Order
from portal.site import PortalSite
from tenants.admin import TenantScopedAdminMixin
from tenants.models import Membership, Role
from tenants.scope import tenant_context
from tenants.selectors import merchant_ids_for_user

pytestmark = pytest.mark.django_db


class OrderAdmin(TenantScopedAdminMixin, ModelAdmin):
    fields = ["merchant", "amazon_account", "external_id"]


@pytest.fixture
def order_admin():
    return OrderAdmin(Order, PortalSite(name="mixin-test"))


def request_for(user, merchant_ids=None):
    request = RequestFactory().get("/")
    request.user = user
    request.allowed_merchant_ids = merchant_ids_for_user(user)
    request.merchant_ids = request.allowed_merchant_ids if merchant_ids is None else merchant_ids
    return request


def test_the_add_form_offers_only_merchants_and_accounts_in_scope(
    tenancy, order_admin, make_amazon_account
):
    a1_account, a2_account = make_amazon_account(tenancy.a1), make_amazon_account(tenancy.a2)
    make_amazon_account(tenancy.b1)
    request = request_for(tenancy.agency_owner)

    with tenant_context(request.merchant_ids):
        form = order_admin.get_form(request)()
        merchants = set(form.fields["merchant"].queryset)
        accounts = set(form.fields["amazon_account"].queryset)

    assert merchants == {tenancy.a1, tenancy.a2}
    assert accounts == {a1_account, a2_account}
    assert not isinstance(form.fields["merchant"].widget, forms.HiddenInput)


def test_with_one_merchant_in_scope_the_merchant_is_prefilled_and_hidden(tenancy, order_admin):
    request = request_for(tenancy.agency_owner, frozenset({tenancy.a2.pk}))

    field = order_admin.get_form(request)().fields["merchant"]

    assert isinstance(field.widget, forms.HiddenInput)
    assert field.initial == tenancy.a2.pk
    assert list(field.queryset) == [tenancy.a2]


def test_a_tampered_merchant_is_rejected(tenancy, order_admin):
    request = request_for(tenancy.merchant_admin)
    form_class = order_admin.get_form(request)

    form = form_class(data={"merchant": tenancy.b1.pk, "external_id": "X-1"})

    assert "merchant" in form.errors


def test_staff_cannot_add_so_no_merchant_is_offered(tenancy, order_admin):
    request = request_for(tenancy.merchant_staff)

    assert order_admin.has_add_permission(request) is False
    assert order_admin.has_change_permission(request) is True
    assert order_admin.has_delete_permission(request) is False
    assert list(order_admin.get_form(request)().fields["merchant"].queryset) == []


def test_the_merchant_of_an_existing_row_is_read_only(tenancy, order_admin):
    request = request_for(tenancy.merchant_admin)

    assert "merchant" in order_admin.get_readonly_fields(request, obj=Order(merchant=tenancy.a1))
    assert "merchant" not in order_admin.get_readonly_fields(request)


def test_permissions_follow_the_role_on_the_rows_merchant(tenancy, order_admin, make_user):
    mixed = make_user(Role.MERCHANT_VIEWER, merchant=tenancy.a1)
    Membership.objects.create(user=mixed, merchant=tenancy.a2, role=Role.MERCHANT_ADMIN)
    request = request_for(mixed)

    assert order_admin.has_change_permission(request, Order(merchant=tenancy.a2)) is True
    assert order_admin.has_change_permission(request, Order(merchant=tenancy.a1)) is False
    assert order_admin.has_view_permission(request, Order(merchant=tenancy.a1)) is True
    assert order_admin.has_view_permission(request, Order(merchant=tenancy.b1)) is False
