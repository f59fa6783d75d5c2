"""The isolation harness (portal half): every ModelAdmin on the portal site, present and
future, hides another tenant's rows from lists, object URLs and form choices.

It walks ``portal_site._registry``; each model needs a factory (``tests/<app>/factories.py``,
see ``tests/support/tenant_factories.py``) that creates a row belonging to a given merchant.
"""

from __future__ import annotations

import pytest
from django.db.models import Model
from django.forms import ModelChoiceField
from django.urls import reverse

from portal.site import portal_site
from tenants.models import Merchant, Role, TenantModel
from tests.support.tenant_factories import load_all

pytestmark = pytest.mark.django_db


def admin_url(model: type[Model], view: str, *args) -> str:
    return reverse(f"portal:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def belongs_to(obj: Model, merchant: Merchant) -> bool:
    if isinstance(obj, Merchant):
        return obj.pk == merchant.pk
    return getattr(obj, "merchant_id", None) == merchant.pk


def test_every_portal_model_admin_has_an_isolation_factory():
    factories = load_all()
    missing = sorted(model._meta.label for model in portal_site._registry if model not in factories)
    assert not missing, (
        f"No isolation factory for {', '.join(missing)}. Register one with "
        "@tenant_factory(Model) in tests/<app>/factories.py (see "
        "tests/support/tenant_factories.py) so the isolation harness can check it."
    )


@pytest.mark.parametrize(
    "model",
    sorted(portal_site._registry, key=lambda m: m._meta.label),
    ids=lambda m: m._meta.label,
)
def test_another_tenants_row_is_invisible_in_the_portal(
    model, make_agency, make_merchant, make_user, login
):
    factory = load_all().get(model)
    if factory is None:
        pytest.fail(f"register an isolation factory for {model._meta.label} (see above)")
    ours_agency, theirs_agency = make_agency(), make_agency()
    ours = make_merchant(agency=ours_agency)
    ours_too = make_merchant(agency=ours_agency)
    theirs = make_merchant(agency=theirs_agency)
    # An agency owner: every capability, on two merchants (the "All my merchants" scope).
    user = make_user(Role.AGENCY_OWNER, agency=ours_agency)
    mine, theirs_obj = factory(ours), factory(theirs)
    assert belongs_to(mine, ours) and belongs_to(theirs_obj, theirs), (
        "the factory ignored its merchant"
    )
    factory(ours_too)
    client = login(user)

    listing = client.get(admin_url(model, "changelist"))
    assert listing.status_code == 200
    listed = {obj.pk for obj in listing.context["cl"].result_list}
    assert mine.pk in listed, "the user's own row is missing, so the check below proves nothing"
    assert theirs_obj.pk not in listed
    # Searching or filtering by id does not find it either.
    assert theirs_obj.pk not in {
        o.pk
        for o in client.get(admin_url(model, "changelist"), {"q": str(theirs_obj)})
        .context["cl"]
        .result_list
    }

    assert client.get(admin_url(model, "change", theirs_obj.pk)).status_code == 404
    assert client.get(admin_url(model, "history", theirs_obj.pk)).status_code == 404
    # Without delete permission the answer is 403 for any id, so it reveals nothing either.
    assert client.get(admin_url(model, "delete", theirs_obj.pk)).status_code in (403, 404)
    assert client.get(admin_url(model, "change", mine.pk)).status_code == 200

    add = client.get(admin_url(model, "add"))
    if add.status_code == 200:
        for name, field in add.context["adminform"].form.fields.items():
            if not isinstance(field, ModelChoiceField):
                continue
            offered = list(field.queryset)
            leaked = [
                o
                for o in offered
                if belongs_to(o, theirs)
                or (isinstance(o, TenantModel) and o.merchant_id == theirs.pk)
            ]
            assert not leaked, f"{model._meta.label}.{name} offers another tenant's {leaked}"


# --- portal pages outside the ModelAdmins (portal.site.PortalSite.get_urls) --------------------
# Each page of the site itself needs an isolation check below (or a reason it has no tenant
# data), so a new page cannot slip past the harness.

SITE_PAGES_WITHOUT_TENANT_DATA = {
    "login",
    "logout",
    "password_change",
    "password_change_done",
    "jsi18n",
    "search",  # unfold's sidebar search: off in the portal; answers from the scoped registry
    "autocomplete",  # Django's: asks the (scoped) ModelAdmin for its queryset
    "view_on_site",  # SHOW_VIEW_ON_SITE is off
    "app_list",  # the registry's model lists: ModelAdmins checked above
    "set_language",  # the signed-in user's own language (tests/portal/test_languages.py)
    "user_settings",  # the signed-in user's own record only (tests/portal/test_languages.py)
}
SITE_PAGES_CHECKED = {
    "index": "tests/portal/test_dashboard.py, test_dashboard_charts.py (other tenants hidden)",
    "switch_merchant": "tests/portal/test_merchant_switcher.py (404 for others' merchants)",
    "notifications": "test_site_pages_hide_another_tenants_notifications",
    "notifications_read_all": "test_site_pages_hide_another_tenants_notifications",
    "notification_read": "test_site_pages_hide_another_tenants_notifications",
    "notification_settings": "test_notification_settings_are_each_users_own",
}


def site_page_names() -> set[str]:
    from django.urls import URLPattern

    return {p.name for p in portal_site.get_urls() if isinstance(p, URLPattern) and p.name}


def test_every_portal_page_outside_the_model_admins_has_an_isolation_check():
    unchecked = site_page_names() - SITE_PAGES_WITHOUT_TENANT_DATA - set(SITE_PAGES_CHECKED)
    assert not unchecked, (
        f"portal pages without an isolation check: {sorted(unchecked)}; add one to "
        "tests/portal/test_isolation.py (SITE_PAGES_CHECKED)"
    )


def test_notification_settings_are_each_users_own(tenancy, login):
    """A person's own choices, not a tenant's: another user's (of another tenant or the same)
    are neither shown nor changed by the page."""
    from notifications.models import NotificationKind, NotificationPreference
    from notifications.services import set_preferences

    shipped = NotificationKind.FULFILLMENT_SHIPPED
    set_preferences(tenancy.other_owner, {shipped: (False, False)})
    client = login(tenancy.merchant_admin)

    form = client.get(reverse("portal:notification_settings")).context["form"]
    assert form.fields[f"portal_{shipped}"].initial is True  # not the other owner's choice
    client.post(reverse("portal:notification_settings"), {})  # everything off, for me alone

    mine = NotificationPreference.objects.filter(user=tenancy.merchant_admin)
    assert mine.count() == len(NotificationKind.values)
    theirs = NotificationPreference.objects.get(user=tenancy.other_owner)
    assert (theirs.kind, theirs.in_portal, theirs.by_email) == (shipped, False, False)
    assert NotificationPreference.objects.count() == len(NotificationKind.values) + 1


def test_site_pages_hide_another_tenants_notifications(tenancy, login, make_order):
    from notifications.models import NotificationRecipient
    from notifications.services import notify_merchant
    from tenants.scope import tenant_context

    with tenant_context(tenancy.a1):
        mine = notify_merchant(tenancy.a1, "general", "Ours: A1 note", order=make_order(tenancy.a1))
    with tenant_context(tenancy.b1):
        theirs = notify_merchant(tenancy.b1, "general", "Theirs: B1 note")
        their_copy = NotificationRecipient.objects.get(
            notification=theirs, user=tenancy.other_owner
        )
    client = login(tenancy.agency_owner)

    page = client.get(reverse("portal:notifications"))
    assert [item["title"] for item in page.context["items"]] == [mine.title]
    assert "Theirs: B1 note" not in page.content.decode()
    assert page.context["notification_badge"]["unread"] == 1
    client.post(reverse("portal:notification_read", args=[their_copy.pk]))
    client.post(reverse("portal:notifications_read_all"))
    with tenant_context(tenancy.b1):
        their_copy.refresh_from_db()
    assert their_copy.read_at is None
    assert login(tenancy.other_owner).get("/").context["notification_badge"]["unread"] == 1
