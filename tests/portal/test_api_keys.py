"""API keys in the portal: created through the service, shown once, stored hashed, revoked."""

from __future__ import annotations

import re

import pytest

from tenants.models import ApiKey, ApiKeyOwner, hash_api_key
from tenants.services import create_api_key
from tests.portal.conftest import changelist_pks

pytestmark = pytest.mark.django_db

ADD = "/tenants/apikey/add/"
LIST = "/tenants/apikey/"


def raw_key_on(page: str) -> str:
    match = re.search(r'id="raw-api-key"[^>]*value="(kls_[^"]+)"', page)
    assert match, "the new key is not on the page"
    return match.group(1)


def test_a_merchant_admin_creates_a_key_that_is_shown_once_and_stored_hashed(tenancy, login):
    client = login(tenancy.merchant_admin)

    response = client.post(
        ADD,
        {
            "name": "Warehouse",
            "owner": f"merchant:{tenancy.a1.pk}",
            "scopes": ["orders:read", "fulfillments:write"],
        },
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    page = response.content.decode()
    raw = raw_key_on(page)
    assert "shown only this once" in page
    key = ApiKey.objects.get(name="Warehouse")
    assert key.owner_type == ApiKeyOwner.MERCHANT and key.merchant == tenancy.a1
    assert key.scopes == ["fulfillments:write", "orders:read"]
    assert key.created_by == tenancy.merchant_admin
    assert key.key_hash == hash_api_key(raw)
    assert raw not in {key.key_hash, key.prefix} and raw.startswith(key.prefix)
    # Nowhere to be seen again: not in the list, not on the key's page, not in the session.
    assert raw not in client.get(LIST).content.decode()
    assert raw not in client.get(f"{LIST}{key.pk}/change/").content.decode()
    assert raw not in str(dict(client.session))


def test_a_merchant_user_may_only_create_keys_for_its_merchant(tenancy, login):
    client = login(tenancy.merchant_admin)
    form = client.get(ADD).context["adminform"].form
    assert [value for value, _ in form.fields["owner"].choices] == [f"merchant:{tenancy.a1.pk}"]

    for forged in (f"merchant:{tenancy.a2.pk}", f"merchant:{tenancy.b1.pk}", "agency:1"):
        response = client.post(ADD, {"name": "x", "owner": forged, "scopes": ["orders:read"]})
        assert response.status_code == 200
        assert "owner" in response.context["adminform"].form.errors
    assert not ApiKey.objects.filter(name="x").exists()


def test_an_agency_admin_may_create_agency_keys_and_keys_for_its_merchants(tenancy, login):
    client = login(tenancy.agency_owner)
    choices = [v for v, _ in client.get(ADD).context["adminform"].form.fields["owner"].choices]
    assert choices == [
        f"agency:{tenancy.agency_a.pk}",
        f"merchant:{tenancy.a1.pk}",
        f"merchant:{tenancy.a2.pk}",
    ]

    response = client.post(
        ADD,
        {
            "name": "Agency tool",
            "owner": f"agency:{tenancy.agency_a.pk}",
            "scopes": ["orders:read"],
        },
    )

    assert response.status_code == 200
    key = ApiKey.objects.get(name="Agency tool")
    assert (key.owner_type, key.agency, key.merchant) == ("agency", tenancy.agency_a, None)


def test_staff_and_viewers_cannot_create_keys(tenancy, login):
    assert login(tenancy.agency_staff).get(ADD).status_code == 403
    assert login(tenancy.merchant_staff).get(ADD).status_code == 403
    assert login(tenancy.viewer).get(ADD).status_code == 403


def test_the_list_shows_each_users_keys_only(tenancy, login):
    a1_key = create_api_key(name="a1", scopes=["orders:read"], merchant=tenancy.a1).api_key
    a2_key = create_api_key(name="a2", scopes=["orders:read"], merchant=tenancy.a2).api_key
    agency_key = create_api_key(name="ag", scopes=["orders:read"], agency=tenancy.agency_a).api_key
    create_api_key(name="b1", scopes=["orders:read"], merchant=tenancy.b1)
    create_api_key(name="agb", scopes=["orders:read"], agency=tenancy.agency_b)

    assert changelist_pks(login(tenancy.agency_owner).get(LIST)) == {
        a1_key.pk,
        a2_key.pk,
        agency_key.pk,
    }
    # Merchant users see their merchant's keys, not the agency's.
    assert changelist_pks(login(tenancy.merchant_admin).get(LIST)) == {a1_key.pk}
    assert login(tenancy.merchant_admin).get(f"{LIST}{agency_key.pk}/change/").status_code == 404


def test_revoke_action_revokes_through_the_service_and_only_within_scope(tenancy, login):
    mine = create_api_key(name="mine", scopes=["orders:read"], merchant=tenancy.a1).api_key
    theirs = create_api_key(name="theirs", scopes=["orders:read"], merchant=tenancy.b1).api_key
    client = login(tenancy.merchant_admin)

    response = client.post(
        LIST,
        {"action": "revoke_keys", "_selected_action": [mine.pk, theirs.pk]},
    )

    assert response.status_code == 302
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None


def test_a_viewer_cannot_revoke(tenancy, login):
    key = create_api_key(name="k", scopes=["orders:read"], merchant=tenancy.a1).api_key
    client = login(tenancy.viewer)

    assert "revoke_keys" not in client.get(LIST).context["cl"].model_admin.get_actions(
        client.get(LIST).wsgi_request
    )
    client.post(LIST, {"action": "revoke_keys", "_selected_action": [key.pk]})

    key.refresh_from_db()
    assert key.revoked_at is None
