"""The portal in its people's languages (issue 13): a user's saved language, else the browser's
Accept-Language; the header's switcher saves the choice; the settings page; notifications and
the e-mail digest rendered in each reader's language. Expected texts come from the compiled
catalogues (tests.support.translations), never from the test."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core import mail
from django.test import Client
from django.utils import translation
from django.utils.html import escape

from foundation.i18n import format_when
from foundation.text import N_, When
from notifications import services as notifications
from tenants.models import Role, User
from tenants.scope import tenant_context
from tests.support.translations import ensure_compiled, translated

pytestmark = pytest.mark.django_db

HEADING = "Orders that need attention"  # the dashboard's first heading


@pytest.fixture(autouse=True)
def catalogues():
    ensure_compiled()


def dashboard(client: Client, **headers) -> str:
    response = client.get("/", **headers)
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize("language", ["th", "sv"])
def test_a_user_with_a_language_sees_the_dashboard_in_it(tenancy, login, language):
    user = tenancy.merchant_admin
    user.language = language
    user.save(update_fields=["language"])
    response = login(user).get("/")
    html = response.content.decode()
    assert escape(translated(language, HEADING)) in html
    assert HEADING not in html
    assert f'<html lang="{language}"' in html
    assert response["Content-Language"] == language


def test_accept_language_decides_for_a_user_without_a_setting(tenancy, login):
    client = login(tenancy.merchant_admin)  # language blank
    assert HEADING in dashboard(client, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.8")
    swedish = dashboard(client, HTTP_ACCEPT_LANGUAGE="sv-SE,sv;q=0.9,en;q=0.5")
    assert escape(translated("sv", HEADING)) in swedish


def test_a_saved_language_wins_over_the_browsers(tenancy, login):
    user = tenancy.merchant_admin
    user.language = "sv"
    user.save(update_fields=["language"])
    html = dashboard(login(user), HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert escape(translated("sv", HEADING)) in html


def test_the_switcher_saves_the_choice_on_the_user(tenancy, login):
    user = tenancy.merchant_staff
    client = login(user)
    html = dashboard(client)
    assert 'id="language-switcher"' in html and 'value="sv"' in html
    response = client.post("/language/", {"language": "sv", "next": "/notifications/"})
    assert response.status_code == 302 and response["Location"] == "/notifications/"
    user.refresh_from_db()
    assert user.language == "sv"
    assert response.cookies["django_language"].value == "sv"
    # It follows the user to another browser (no cookie there).
    assert escape(translated("sv", HEADING)) in dashboard(login(user))


def test_the_switcher_refuses_unknown_languages_and_foreign_redirects(tenancy, login):
    user = tenancy.merchant_staff
    client = login(user)
    response = client.post("/language/", {"language": "xx", "next": "/"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == ""
    response = client.post("/language/", {"language": "sv", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_the_switcher_works_before_sign_in_with_a_cookie_only():
    client = Client()
    response = client.post("/language/", {"language": "sv", "next": "/login/"})
    assert response.status_code == 302
    assert response.cookies["django_language"].value == "sv"
    login_page = client.get("/login/")
    assert login_page["Content-Language"] == "sv"


def test_the_settings_page_changes_the_users_own_language_only(tenancy, login):
    user, other = tenancy.merchant_admin, tenancy.merchant_staff
    client = login(user)
    page = client.get("/settings/")
    assert page.status_code == 200
    assert 'name="language"' in page.content.decode()
    response = client.post(
        "/settings/",
        {
            "first_name": "Ann",
            "last_name": "Berg",
            "email": user.email,
            "language": "sv",
            "email_notifications": "on",
            "is_superuser": "on",  # not a field of the form: ignored
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    other.refresh_from_db()
    assert (user.language, user.first_name, user.is_superuser) == ("sv", "Ann", False)
    assert other.language == ""
    assert (
        escape(translated("sv", "Your settings were saved."))
        in client.get("/settings/").content.decode()
    )
    # Back to the browser's language.
    client.post("/settings/", {"email": user.email, "language": "", "email_notifications": "on"})
    user.refresh_from_db()
    assert user.language == ""


def test_a_notification_is_shown_in_each_readers_language(tenancy, login, make_user):
    merchant = tenancy.a1
    reader_sv = make_user(Role.MERCHANT_STAFF, merchant=merchant, language="sv")
    reader_en = make_user(Role.MERCHANT_STAFF, merchant=merchant)
    template = "Order %(ref)s: confirm shipment by %(when)s"
    when = When(datetime(2026, 3, 10, 16, 0, tzinfo=UTC), "America/New_York")
    with tenant_context(merchant):
        note = notifications.notify_merchant(
            merchant, "general", N_(template, ref="113-1", when=when)
        )
    english = "Order 113-1: confirm shipment by Tue 10 Mar 2026, 12:00 EDT"
    assert note.title == english  # the stored text stays English (the fallback)

    with translation.override("sv"):
        swedish_when = format_when(when)  # Swedish date format, in the merchant's time zone
    swedish = translated("sv", template) % {"ref": "113-1", "when": swedish_when}
    swedish_page = login(reader_sv).get("/notifications/").content.decode()
    assert escape(swedish) in swedish_page
    assert english not in swedish_page
    assert english in login(reader_en).get("/notifications/").content.decode()


def test_a_notification_from_before_shows_its_stored_text(tenancy, login):
    from notifications.models import Notification

    merchant = tenancy.a1
    with tenant_context(merchant):
        note = notifications.notify_merchant(merchant, "general", "An old note")
        Notification.objects.filter(pk=note.pk).update(message={})
    user = tenancy.merchant_admin
    user.language = "sv"
    user.save(update_fields=["language"])
    assert "An old note" in login(user).get("/notifications/").content.decode()


def test_the_email_digest_is_in_the_recipients_language(tenancy):
    merchant = tenancy.a1
    user: User = tenancy.merchant_admin
    user.language = "sv"
    user.save(update_fields=["language"])
    with tenant_context(merchant):
        notifications.notify_merchant(
            merchant, "general", N_("Order %(ref)s is late: its ship-by date has passed", ref="7")
        )
        notifications.notify_merchant(
            merchant, "general", N_("Order %(ref)s is late: its ship-by date has passed", ref="8")
        )
        assert notifications.send_email_digest(user) == 2
    [message] = mail.outbox
    subject = translated("sv", "Keelson: %(count)s updates on your orders") % {"count": 2}
    assert message.subject == subject
    late = translated("sv", "Order %(ref)s is late: its ship-by date has passed")
    assert late % {"ref": "7"} in message.body and late % {"ref": "8"} in message.body
