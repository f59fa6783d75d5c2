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
