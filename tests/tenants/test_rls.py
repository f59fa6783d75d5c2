"""Row-level security backs up the scoped querysets: raw SQL under one merchant's scope can
neither see nor change another merchant's rows, and no scope sees nothing."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, connections, transaction

from tenants.models import AmazonAccount, TenantModel
from tenants.scope import no_tenant_context, system_context, tenant_context

pytestmark = pytest.mark.django_db


def tenant_models():
    return [m for m in apps.get_models() if issubclass(m, TenantModel)]


def test_application_connects_as_an_ordinary_role():
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (False, False)
        cursor.execute("SELECT current_user <> %s", [connections["owner"].settings_dict["USER"]])
        assert cursor.fetchone() == (True,)


def test_every_tenant_owned_table_has_forced_rls_and_the_tenant_policy():
    assert tenant_models(), "expected tenant-owned models"
    with connections["owner"].cursor() as cursor:
        for model in tenant_models():
            table = model._meta.db_table
            cursor.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = %s",
                [table],
            )
            assert cursor.fetchone() == (True, True), f"{table} lacks forced RLS"
            cursor.execute(
                "SELECT qual, with_check FROM pg_policies WHERE tablename = %s "
                "AND policyname = 'tenant_isolation'",
                [table],
            )
            row = cursor.fetchone()
            assert row is not None, f"{table} has no tenant_isolation policy"
            assert "app_merchant_ids()" in row[0] and "app_merchant_ids()" in row[1]


def test_every_tenant_owned_table_has_a_non_null_merchant_id():
    for model in tenant_models():
        field = model._meta.get_field("merchant")
        assert not field.null, model


def test_raw_select_under_a_scope_sees_only_that_merchant(two_merchants, make_amazon_account):
    a, b = two_merchants
    make_amazon_account(a)
    make_amazon_account(b)
    with tenant_context(a), connection.cursor() as cursor:
        cursor.execute("SELECT merchant_id FROM tenants_amazonaccount")
        assert {row[0] for row in cursor.fetchall()} == {a.id}


def test_raw_update_under_a_scope_cannot_touch_another_merchant(two_merchants, make_amazon_account):
    a, b = two_merchants
    make_amazon_account(a)
    theirs = make_amazon_account(b)
    with tenant_context(a), connection.cursor() as cursor:
        cursor.execute("UPDATE tenants_amazonaccount SET name = 'hijacked'")
        assert cursor.rowcount == 1
        cursor.execute("DELETE FROM tenants_amazonaccount WHERE merchant_id = %s", [b.id])
        assert cursor.rowcount == 0
    with tenant_context(b):
        theirs.refresh_from_db()
        assert theirs.name == ""


def test_insert_for_another_merchant_is_refused_by_the_policy(two_merchants):
    from django.db.utils import ProgrammingError

    a, b = two_merchants
    with tenant_context(a), pytest.raises(ProgrammingError, match="row-level security"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tenants_shopifystore (merchant_id, shop_domain, access_token, "
                "api_version, endpoint_override, webhook_secret, status, created_at) "
                "VALUES (%s, 'x.myshopify.com', 't', '2025-07', '', '', 'active', now())",
                [b.id],
            )


def test_no_scope_sees_nothing_even_in_raw_sql(two_merchants, make_amazon_account):
    a, b = two_merchants
    make_amazon_account(a)
    make_amazon_account(b)
    with no_tenant_context(), connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM tenants_amazonaccount")
        assert cursor.fetchone() == (0,)
        cursor.execute("UPDATE tenants_amazonaccount SET name = 'x'")
        assert cursor.rowcount == 0


def test_next_user_of_the_connection_does_not_inherit_the_scope(two_merchants, make_amazon_account):
    a, _ = two_merchants
    make_amazon_account(a)
    with tenant_context(a):
        assert AmazonAccount.objects.count() == 1
    # Same connection, scope gone: the session setting follows the context variable.
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('app.merchant_ids', true)")
        assert cursor.fetchone()[0] in ("", None)
        cursor.execute("SELECT count(*) FROM tenants_amazonaccount")
        assert cursor.fetchone() == (0,)


def test_scope_is_restored_after_a_rolled_back_transaction(two_merchants, make_amazon_account):
    a, b = two_merchants
    make_amazon_account(a)
    make_amazon_account(b)
    with tenant_context(a):
        try:
            with transaction.atomic():
                assert AmazonAccount.objects.count() == 1
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    with tenant_context(b):
        # The rollback may have undone the setting; the backend sends it again.
        assert list(AmazonAccount.objects.values_list("merchant_id", flat=True)) == [b.id]


@pytest.mark.django_db(transaction=True)
def test_system_context_sees_all_tenants_through_the_owner_connection(
    two_merchants, make_amazon_account
):
    a, b = two_merchants
    make_amazon_account(a)
    make_amazon_account(b)
    with system_context("test: cross-tenant read"):
        assert set(AmazonAccount.objects.values_list("merchant_id", flat=True)) == {a.id, b.id}
    assert AmazonAccount.objects.count() == 0


def test_system_context_needs_a_reason():
    with pytest.raises(ValueError):
        with system_context(" "):
            pass
