"""Logging in to the portal: members of a merchant or agency get in; anyone else does not."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Role

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Keelson-123"


def test_a_merchant_user_logs_in_and_lands_on_the_dashboard(make_merchant, make_user):
    merchant = make_merchant(name="Acme Outdoor")
    user = make_user(Role.MERCHANT_ADMIN, merchant=merchant, username="acme-admin")
    client = Client()

    response = client.post("/login/", {"username": "acme-admin", "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == "/"
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert dashboard.context["user"] == user
    assert "Acme Outdoor" in dashboard.content.decode()


def test_a_user_without_memberships_is_refused_at_login(make_user):
    make_user(username="drifter")
    client = Client()

    response = client.post("/login/", {"username": "drifter", "password": PASSWORD})

    assert response.status_code == 200  # the form again, with the reason
    assert "no access to any merchant" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_user_without_memberships_who_has_a_session_is_sent_to_login(make_user):
    client = Client()
    client.force_login(make_user(username="drifter"))

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_member_of_an_inactive_merchant_only_is_refused(make_merchant, make_user):
    merchant = make_merchant(is_active=False)
    make_user(Role.MERCHANT_ADMIN, merchant=merchant, username="gone")

    response = Client().post("/login/", {"username": "gone", "password": PASSWORD})

    assert response.status_code == 200
    assert "no access to any merchant" in response.content.decode()


def test_wrong_password_is_refused(make_merchant, make_user):
    make_user(Role.MERCHANT_ADMIN, merchant=make_merchant(), username="acme")

    response = Client().post("/login/", {"username": "acme", "password": "nope"})

    assert response.status_code == 200
    assert "_auth_user_id" not in response.wsgi_request.session


def test_portal_users_are_not_django_staff_and_cannot_use_the_staff_admin(make_merchant, make_user):
    user = make_user(Role.AGENCY_OWNER, agency=make_merchant().agency)
    assert not user.is_staff
    client = Client()
    client.force_login(user)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_logout_ends_the_portal_session(make_merchant, make_user):
    client = Client()
    client.force_login(make_user(Role.MERCHANT_ADMIN, merchant=make_merchant()))

    response = client.post("/logout/")

    assert response.status_code == 200
    assert client.get("/").status_code == 302


def sign_in(client: Client, username: str, password: str, ip: str = "203.0.113.7", path="/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_repeated_failures_lock_that_username_from_that_address_with_a_clear_429(
    make_merchant, make_user, settings
):
    make_user(Role.MERCHANT_ADMIN, merchant=make_merchant(), username="target")
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert sign_in(client, "target", "wrong").status_code == 200
    assert sign_in(client, "target", "wrong").status_code == 429  # the limit reached

    locked = sign_in(client, "target", PASSWORD)  # the right password, too late

    assert locked.status_code == 429
    assert locked["Retry-After"] == str(15 * 60)
    page = locked.content.decode()
    assert "Too many failed sign-in attempts" in page and "15 minutes" in page
    assert "_auth_user_id" not in client.session
    # The same person from another network still gets in: the lock is per username and IP.
    elsewhere = Client()
    assert sign_in(elsewhere, "target", PASSWORD, ip="198.51.100.9").status_code == 302


def test_a_success_resets_the_count_of_failures(make_merchant, make_user, settings):
    make_user(Role.MERCHANT_ADMIN, merchant=make_merchant(), username="forgetful")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(Client(), "forgetful", "wrong")
    assert sign_in(Client(), "forgetful", PASSWORD).status_code == 302
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        sign_in(Client(), "forgetful", "wrong")
    assert sign_in(Client(), "forgetful", PASSWORD).status_code == 302


def test_the_staff_admin_login_is_throttled_too(make_user, settings):
    make_user(username="root", is_staff=True, is_superuser=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(Client(), "root", "wrong", path="/admin/login/")
    assert sign_in(Client(), "root", PASSWORD, path="/admin/login/").status_code == 429
