"""The merchant switcher: agency users (and users with several merchants) narrow the portal to
one merchant or widen it to all of theirs; nobody can switch to a merchant outside their scope."""

from __future__ import annotations

import pytest

from tenants.middleware import SESSION_MERCHANT_KEY
from tenants.models import Role
from tests.portal.conftest import changelist_pks, switch_to

pytestmark = pytest.mark.django_db

ACCOUNTS = "/tenants/amazonaccount/"


def test_agency_user_sees_all_its_merchants_accounts_until_it_switches(
    tenancy, login, make_amazon_account
):
    a1_account = make_amazon_account(tenancy.a1)
    a2_account = make_amazon_account(tenancy.a2)
    make_amazon_account(tenancy.b1)
    client = login(tenancy.agency_owner)

    assert changelist_pks(client.get(ACCOUNTS)) == {a1_account.pk, a2_account.pk}

    response = switch_to(client, tenancy.a2, next_url=ACCOUNTS)
    assert response.status_code == 302
    assert response["Location"] == ACCOUNTS
    assert client.session[SESSION_MERCHANT_KEY] == tenancy.a2.pk
    assert changelist_pks(client.get(ACCOUNTS)) == {a2_account.pk}

    switch_to(client, tenancy.a1)
    assert changelist_pks(client.get(ACCOUNTS)) == {a1_account.pk}

    switch_to(client, "all")
    assert SESSION_MERCHANT_KEY not in client.session
    assert changelist_pks(client.get(ACCOUNTS)) == {a1_account.pk, a2_account.pk}


def test_the_header_shows_the_current_merchant_and_the_choices(tenancy, login):
    client = login(tenancy.agency_owner)

    page = client.get("/").content.decode()
    assert "All my merchants (2)" in page
    assert tenancy.a1.name in page and tenancy.a2.name in page
    assert tenancy.b1.name not in page

    switch_to(client, tenancy.a1)
    switcher = client.get("/").context["merchant_switcher"]
    assert switcher["current"] == tenancy.a1
    assert switcher["label"] == tenancy.a1.name
    assert [m["id"] for m in switcher["merchants"] if m["selected"]] == [tenancy.a1.pk]


def test_a_single_merchant_user_sees_its_merchant_without_a_switcher(tenancy, login):
    response = login(tenancy.merchant_admin).get("/")

    switcher = response.context["merchant_switcher"]
    assert switcher["can_switch"] is False
    assert switcher["label"] == tenancy.a1.name
    assert 'name="merchant"' not in response.content.decode()


def test_switching_to_a_merchant_outside_the_scope_is_404(tenancy, login):
    client = login(tenancy.agency_owner)

    assert switch_to(client, tenancy.b1).status_code == 404
    assert switch_to(client, "999999999").status_code == 404
    assert switch_to(client, "not-a-number").status_code == 404
    assert SESSION_MERCHANT_KEY not in client.session


def test_a_merchant_user_cannot_switch_to_a_sibling_merchant_of_its_agency(tenancy, login):
    client = login(tenancy.merchant_admin)

    assert switch_to(client, tenancy.a2).status_code == 404


def test_switching_is_a_post(tenancy, login):
    client = login(tenancy.agency_owner)

    assert client.get("/merchant/switch/", {"merchant": tenancy.a1.pk}).status_code == 405


def test_switching_from_an_object_page_lands_on_the_list(tenancy, login, make_amazon_account):
    account = make_amazon_account(tenancy.a1)
    client = login(tenancy.agency_owner)
    change_url = f"{ACCOUNTS}{account.pk}/change/"

    response = switch_to(client, tenancy.a2, next_url=change_url)

    assert response["Location"] == ACCOUNTS


def test_switching_ignores_an_offsite_next_url(tenancy, login):
    client = login(tenancy.agency_owner)

    response = switch_to(client, tenancy.a1, next_url="https://evil.example/")

    assert response["Location"] == "/"


def test_a_stale_choice_after_losing_access_falls_back_to_the_remaining_merchants(
    tenancy, login, make_amazon_account, make_user
):
    user = make_user(Role.MERCHANT_ADMIN, merchant=tenancy.a1)
    from tenants.models import Membership

    Membership.objects.create(user=user, merchant=tenancy.a2, role=Role.MERCHANT_ADMIN)
    a1_account = make_amazon_account(tenancy.a1)
    make_amazon_account(tenancy.a2)
    client = login(user)
    switch_to(client, tenancy.a2)

    Membership.objects.filter(user=user, merchant=tenancy.a2).delete()

    assert changelist_pks(client.get(ACCOUNTS)) == {a1_account.pk}
