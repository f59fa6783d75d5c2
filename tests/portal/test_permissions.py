"""Roles decide what portal users may do; other tenants' objects are 404 by URL."""

from __future__ import annotations

import pytest

from tenants.models import AmazonAccount, Merchant
from tenants.scope import tenant_context
from tests.portal.conftest import changelist_pks

pytestmark = pytest.mark.django_db


def change_url(obj) -> str:
    return f"/{obj._meta.app_label}/{obj._meta.model_name}/{obj.pk}/change/"


def test_a_merchant_user_of_agency_a_cannot_open_agency_b_objects_by_url(
    tenancy, login, make_amazon_account
):
    theirs = make_amazon_account(tenancy.b1)
    client = login(tenancy.merchant_admin)

    assert client.get(change_url(theirs)).status_code == 404
    assert client.get(change_url(tenancy.b1)).status_code == 404
    assert client.get(f"/tenants/amazonaccount/{theirs.pk}/history/").status_code == 404
    # A missing id looks the same as another tenant's.
    assert client.get("/tenants/amazonaccount/999999999/change/").status_code == 404


def test_a_merchant_user_cannot_open_a_sibling_merchant_of_its_own_agency(
    tenancy, login, make_amazon_account
):
    sibling = make_amazon_account(tenancy.a2)
    client = login(tenancy.merchant_admin)

    assert client.get(change_url(sibling)).status_code == 404
    assert client.get(change_url(tenancy.a2)).status_code == 404


def test_an_agency_user_switched_to_one_merchant_cannot_open_the_others_by_url(
    tenancy, login, make_amazon_account
):
    a2_account = make_amazon_account(tenancy.a2)
    client = login(tenancy.agency_owner)
    client.post("/merchant/switch/", {"merchant": tenancy.a1.pk})

    assert client.get(change_url(a2_account)).status_code == 404


def test_posting_to_another_tenants_object_changes_nothing(tenancy, login, make_amazon_account):
    theirs = make_amazon_account(tenancy.b1, name="Theirs")
    client = login(tenancy.other_owner)
    form = client.get(change_url(theirs)).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data.update({"name": "Hijacked", "marketplace_ids": "ATVPDKIKX0DER", "status": "active"})

    response = login(tenancy.agency_owner).post(change_url(theirs), data)

    assert response.status_code == 404
    with tenant_context(tenancy.b1):
        assert AmazonAccount.objects.get(pk=theirs.pk).name == "Theirs"


def test_a_viewer_sees_but_cannot_change(tenancy, login, make_amazon_account):
    account = make_amazon_account(tenancy.a1, name="Main account")
    client = login(tenancy.viewer)

    assert changelist_pks(client.get("/tenants/amazonaccount/")) == {account.pk}
    page = client.get(change_url(account))
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert 'name="_save"' not in page.content.decode()
    assert "new_lwa_refresh_token" not in page.content.decode()  # no inputs for secrets

    response = client.post(
        change_url(account),
        {"name": "Renamed", "region": "NA", "marketplace_ids": "ATVPDKIKX0DER", "status": "active"},
    )
    assert response.status_code == 403
    with tenant_context(tenancy.a1):
        assert AmazonAccount.objects.get(pk=account.pk).name == "Main account"
    assert client.post(change_url(tenancy.a1), {"name": "Renamed"}).status_code == 403


def test_staff_may_change_connections_but_not_merchant_settings_or_api_keys(tenancy, login):
    client = login(tenancy.merchant_staff)
    account_admin = client.get("/tenants/amazonaccount/").context["cl"].model_admin
    request = client.get("/tenants/amazonaccount/").wsgi_request

    assert account_admin.has_change_permission(request)
    assert client.get("/tenants/apikey/add/").status_code == 403
    page = client.get(change_url(tenancy.a1))
    assert page.context["has_change_permission"] is False


def test_agency_staff_changes_connections_of_every_agency_merchant(
    tenancy, login, make_amazon_account
):
    account = make_amazon_account(tenancy.a2, name="Before")
    client = login(tenancy.agency_staff)

    response = client.post(
        change_url(account),
        {
            "name": "After",
            "region": "NA",
            "marketplace_ids": "ATVPDKIKX0DER",
            "status": "paused",
            "lwa_client_id": "",
            "endpoint_override": "",
            "lwa_endpoint_override": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    with tenant_context(tenancy.a2):
        stored = AmazonAccount.objects.get(pk=account.pk)
    assert (stored.name, stored.status) == ("After", "paused")


def test_merchant_admin_changes_its_merchant_settings(tenancy, login):
    client = login(tenancy.merchant_admin)

    response = client.post(
        change_url(tenancy.a1),
        {
            "name": tenancy.a1.name,
            "time_zone": "Europe/Berlin",
            "default_currency": "EUR",
            "auto_request_fulfillment": "on",
            "deadline_warning_days": "5",
        },
    )

    assert response.status_code == 302
    merchant = Merchant.objects.get(pk=tenancy.a1.pk)
    assert (merchant.time_zone, merchant.default_currency, merchant.deadline_warning_days) == (
        "Europe/Berlin",
        "EUR",
        5,
    )
    assert merchant.auto_request_fulfillment is True


def test_nobody_adds_or_deletes_merchants_or_connections_in_the_portal(
    tenancy, login, make_amazon_account
):
    account = make_amazon_account(tenancy.a1)
    client = login(tenancy.agency_owner)

    assert client.get("/tenants/merchant/add/").status_code == 403
    assert client.get("/tenants/amazonaccount/add/").status_code == 403
    assert client.get(f"/tenants/merchant/{tenancy.a1.pk}/delete/").status_code == 403
    assert client.get(f"/tenants/amazonaccount/{account.pk}/delete/").status_code == 403


def test_secrets_are_never_rendered_and_an_empty_secret_input_keeps_the_stored_value(
    tenancy, login, make_amazon_account
):
    account = make_amazon_account(tenancy.a1, lwa_refresh_token="Atzr|very-secret-refresh")
    with tenant_context(tenancy.a1):
        AmazonAccount.objects.filter(pk=account.pk).update(lwa_client_secret="")
    client = login(tenancy.merchant_admin)

    page = client.get(change_url(account)).content.decode()
    assert "very-secret-refresh" not in page
    assert "Set (hidden)" in page

    base = {
        "name": "Main",
        "region": "NA",
        "marketplace_ids": "ATVPDKIKX0DER",
        "status": "active",
        "lwa_client_id": "",
        "endpoint_override": "",
        "lwa_endpoint_override": "",
    }
    assert (
        client.post(change_url(account), {**base, "new_lwa_refresh_token": ""}).status_code == 302
    )
    with tenant_context(tenancy.a1):
        assert AmazonAccount.objects.get(pk=account.pk).lwa_refresh_token == (
            "Atzr|very-secret-refresh"
        )

    client.post(change_url(account), {**base, "new_lwa_refresh_token": "Atzr|rotated"})
    with tenant_context(tenancy.a1):
        assert AmazonAccount.objects.get(pk=account.pk).lwa_refresh_token == "Atzr|rotated"


def test_a_tenant_cannot_set_a_system_only_status(tenancy, login, make_amazon_account):
    account = make_amazon_account(tenancy.a1)
    client = login(tenancy.merchant_admin)

    response = client.post(
        change_url(account),
        {"name": "x", "region": "NA", "marketplace_ids": "ATVPDKIKX0DER", "status": "auth_failed"},
    )

    assert response.status_code == 200
    assert "status" in response.context["adminform"].form.errors
