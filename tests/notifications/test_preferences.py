"""Each person chooses, per kind of notification, whether it shows in the portal and whether it
is e-mailed (both on by default). Honoured when recipients are made and again when the digest
is sent; a kind kept out of the portal is not e-mailed either."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from notifications import selectors, services
from notifications.models import EmailState, NotificationKind, NotificationPreference
from tenants.models import Role
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

SETTINGS = "/notifications/settings/"
SHIPPED = NotificationKind.FULFILLMENT_SHIPPED
REJECTED = NotificationKind.FULFILLMENT_REJECTED


@pytest.fixture
def shop(make_agency, make_merchant, make_user):
    agency = make_agency()
    merchant = make_merchant(agency=agency, name="Prefs Goods")
    admin = make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="admin@m.example")
    colleague = make_user(role=Role.MERCHANT_STAFF, merchant=merchant, email="staff@m.example")
    return merchant, admin, colleague


def notify(merchant, kind, title="Something happened"):
    with tenant_context(merchant):
        note = services.notify_merchant(merchant, kind, title)
        return dict(note.recipients.values_list("user_id", "email_state"))


def digest_subjects(merchant, user) -> list[str]:
    mail.outbox.clear()
    with tenant_context(merchant):
        services.send_email_digest(user)
    return [m.subject for m in mail.outbox]


def test_by_default_every_kind_is_in_the_portal_and_emailed(shop):
    merchant, admin, _ = shop

    states = notify(merchant, SHIPPED)

    assert states[admin.pk] == EmailState.PENDING
    assert all(
        choice.in_portal and choice.by_email for _, _, choice in selectors.preference_table(admin)
    )


def test_email_off_for_shipped_keeps_it_in_the_portal_but_out_of_the_digest(shop):
    merchant, admin, colleague = shop
    services.set_preferences(admin, {SHIPPED: (True, False)})

    states = notify(merchant, SHIPPED, "Shipped by the 3PL")

    assert states[admin.pk] == EmailState.NOT_WANTED  # in the portal, not e-mailed
    assert states[colleague.pk] == EmailState.PENDING  # another person's choice is their own
    assert digest_subjects(merchant, admin) == []
    assert digest_subjects(merchant, colleague) == ["Keelson: Shipped by the 3PL"]


def test_off_in_the_portal_too_makes_no_copy_at_all(shop):
    merchant, admin, colleague = shop
    services.set_preferences(admin, {SHIPPED: (False, False)})

    states = notify(merchant, SHIPPED)

    assert admin.pk not in states and colleague.pk in states


def test_off_in_the_portal_is_not_emailed_even_with_email_on(shop):
    merchant, admin, _ = shop
    services.set_preferences(admin, {SHIPPED: (False, True)})

    assert admin.pk not in notify(merchant, SHIPPED)


def test_other_kinds_are_untouched(shop):
    merchant, admin, _ = shop
    services.set_preferences(admin, {SHIPPED: (False, False)})

    assert notify(merchant, REJECTED)[admin.pk] == EmailState.PENDING


def test_email_turned_off_after_the_notification_was_made_is_not_sent(shop):
    merchant, admin, _ = shop
    notify(merchant, SHIPPED, "Shipped")
    notify(merchant, REJECTED, "Rejected")

    services.set_preferences(admin, {SHIPPED: (True, False)})

    assert digest_subjects(merchant, admin) == ["Keelson: Rejected"]
    with tenant_context(merchant):
        skipped = admin.notifications.filter(notification__kind=SHIPPED).get()
    assert skipped.email_state == EmailState.SKIPPED


def test_back_to_both_on_keeps_no_row_and_unknown_kinds_are_refused(shop):
    _, admin, _ = shop
    services.set_preferences(admin, {SHIPPED: (True, False)})
    services.set_preferences(admin, {SHIPPED: (True, True)})

    assert not NotificationPreference.objects.filter(user=admin).exists()
    with pytest.raises(ValueError, match="unknown notification kinds"):
        services.set_preferences(admin, {"no_such_kind": (True, True)})


def test_the_settings_page_shows_every_kind_and_saves_the_users_own_choice(shop):
    merchant, admin, colleague = shop
    client = Client()
    client.force_login(admin)

    page = client.get(SETTINGS)
    assert page.status_code == 200
    form = page.context["form"]
    assert form.kinds == list(NotificationKind.values)
    assert all(form.initial.get(name, form.fields[name].initial) for name in form.fields)

    # Everything stays on but the e-mail of "shipped"; unchecked boxes are simply absent.
    data = {f"portal_{k}": "on" for k in NotificationKind.values}
    data.update({f"email_{k}": "on" for k in NotificationKind.values if k != SHIPPED})
    saved = client.post(SETTINGS, data, follow=True)

    assert "Your notification settings are saved." in saved.content.decode()
    assert list(
        NotificationPreference.objects.values_list("user_id", "kind", "in_portal", "by_email")
    ) == [(admin.pk, SHIPPED, True, False)]
    again = client.get(SETTINGS).context["form"]
    assert again.fields[f"email_{SHIPPED}"].initial is False
    assert notify(merchant, SHIPPED)[colleague.pk] == EmailState.PENDING
