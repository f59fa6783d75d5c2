"""The staff admin at /admin/: superusers only, across tenants, unfold-styled, secrets hidden."""

from __future__ import annotations

import pytest
from django.contrib import admin
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.sites import UnfoldAdminSite

from tenants.models import (
    AmazonAccount,
    ApiKey,
    Membership,
    Merchant,
    Role,
    ShopifyStore,
    StaffAccess,
    User,
)
from tenants.services import create_api_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def superuser(make_user):
    return make_user(username="root", is_superuser=True, is_staff=True)


def test_both_sites_are_unfold_sites_and_tenancy_models_are_registered():
    from portal.site import portal_site

    assert isinstance(admin.site, UnfoldAdminSite)
    assert isinstance(portal_site, UnfoldAdminSite)
    for model in (User, Merchant, Membership, ApiKey, AmazonAccount, ShopifyStore):
        assert isinstance(admin.site._registry[model], UnfoldModelAdmin), model


def test_a_superuser_sees_every_tenants_connections(
    superuser, login, two_merchants, make_amazon_account
):
    a, b = two_merchants
    ours, theirs = make_amazon_account(a), make_amazon_account(b)
    client = login(superuser)

    listing = client.get("/admin/tenants/amazonaccount/")

    assert listing.status_code == 200
    assert {o.pk for o in listing.context["cl"].result_list} == {ours.pk, theirs.pk}
    page = client.get(f"/admin/tenants/amazonaccount/{theirs.pk}/change/").content.decode()
    assert theirs.lwa_refresh_token not in page


def test_non_superuser_staff_cannot_use_the_staff_admin(make_user, login):
    staff = make_user(username="helpdesk", is_staff=True)

    response = login(staff).get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_superuser_revokes_a_key_from_the_staff_admin(superuser, login, make_merchant):
    key = create_api_key(name="k", scopes=["orders:read"], merchant=make_merchant()).api_key

    response = login(superuser).post(
        "/admin/tenants/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]}
    )

    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_every_staff_changelist_renders(superuser, login, two_merchants, make_amazon_account):
    make_amazon_account(two_merchants[0])
    client = login(superuser)

    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url


def test_every_cross_tenant_request_of_the_staff_admin_is_on_the_record(
    superuser, login, make_merchant, make_user
):
    """Who, what and when (issue 14): each staff-admin request of a superuser, and nothing for
    the portal's tenant-scoped requests; the record is read-only, even for superusers."""
    merchant = make_merchant(name="Audited Goods")
    staff = login(superuser)
    assert staff.get("/admin/tenants/merchant/", {"q": "Audited"}).status_code == 200
    assert staff.get(f"/admin/tenants/merchant/{merchant.pk}/change/").status_code == 200
    login(make_user(Role.MERCHANT_ADMIN, merchant=merchant)).get("/")

    records = list(StaffAccess.objects.order_by("id"))
    assert [(r.username, r.method, r.path, r.query, r.status_code) for r in records] == [
        (superuser.username, "GET", "/admin/tenants/merchant/", "q=Audited", 200),
        (superuser.username, "GET", f"/admin/tenants/merchant/{merchant.pk}/change/", "", 200),
    ]
    assert all(r.user_id == superuser.pk and r.at for r in records)

    page = staff.get("/admin/tenants/staffaccess/")
    assert page.status_code == 200
    assert f"/admin/tenants/merchant/{merchant.pk}/change/" in page.content.decode()
    first = records[0]
    assert staff.post(f"/admin/tenants/staffaccess/{first.pk}/delete/").status_code == 403
    assert staff.get("/admin/tenants/staffaccess/add/").status_code == 403
    assert StaffAccess.objects.filter(pk=first.pk).exists()


def test_staff_cannot_flip_a_services_is_active_past_its_open_requests_F1(
    superuser, login, make_merchant
):
    """The staff admin's ``is_active`` is read-only; its Deactivate action is the portal's use
    case: refused while a request is with the service, then done (a review's finding)."""
    from fulfillment import services
    from fulfillment.models import FulfillmentService
    from tenants.scope import tenant_context
    from tests.support.orders import create_order

    merchant = make_merchant(name="Staffed Goods")
    service = services.create_fulfillment_service(
        name="Busy 3PL", merchant=merchant, issue_api_key=False
    ).service
    order = create_order(merchant)
    with tenant_context(merchant):
        (fo,) = services.request_fulfillment(order.pk, actor=services.Actor.system("test"))
    client = login(superuser)
    page = f"/admin/fulfillment/fulfillmentservice/{service.pk}/change/"

    # A forged form post cannot switch it off: the field is not on the form.
    form = client.get(page).context["adminform"].form
    assert "is_active" not in form.fields
    client.post(page, {"name": "Busy 3PL", "workflow": service.workflow, "callback_url": ""})
    service.refresh_from_db()
    assert service.is_active

    listing = "/admin/fulfillment/fulfillmentservice/"
    refused = client.post(
        listing, {"action": "deactivate", "_selected_action": [service.pk]}, follow=True
    )
    text = " ".join(str(m) for m in refused.context["messages"])
    assert "still has fulfillment requests in progress" in text and order.external_id in text
    service.refresh_from_db()
    assert service.is_active

    with tenant_context(merchant):
        services.reject_request(fo.pk, actor=services.Actor.service(service), message="no stock")
    done = client.post(
        listing, {"action": "deactivate", "_selected_action": [service.pk]}, follow=True
    )
    assert "Busy 3PL is deactivated" in " ".join(str(m) for m in done.context["messages"])
    assert not FulfillmentService.objects.get(pk=service.pk).is_active
