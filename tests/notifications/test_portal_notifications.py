"""The portal's notifications (rules R4, A9, B5): the list of the user's own notifications for
the merchants in scope, the unread badge in the header on every page, marking read; never
another user's or another tenant's."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications import services, views
from notifications.models import NotificationKind, NotificationRecipient
from tenants.models import Role
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

LIST = "/notifications/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def people(make_agency, make_merchant, make_user):
    """Agency A with merchants a1 and a2, agency B with b1, and their people."""
    agency_a, agency_b = make_agency(name="Agency A"), make_agency(name="Agency B")
    a1 = make_merchant(agency=agency_a, name="A-one Goods")
    a2 = make_merchant(agency=agency_a, name="A-two Supplies")
    b1 = make_merchant(agency=agency_b, name="B-one Traders")
    return {
        "a1": a1,
        "a2": a2,
        "b1": b1,
        "owner": make_user(role=Role.AGENCY_OWNER, agency=agency_a),
        "admin": make_user(role=Role.MERCHANT_ADMIN, merchant=a1),
        "viewer": make_user(role=Role.MERCHANT_VIEWER, merchant=a1),
        "a2_admin": make_user(role=Role.MERCHANT_ADMIN, merchant=a2),
        "other": make_user(role=Role.AGENCY_OWNER, agency=agency_b),
    }


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def notify(merchant, title: str, order=None, kind=NotificationKind.GENERAL):
    with tenant_context(merchant):
        return services.notify_merchant(merchant, kind, title, "Details.", order=order)


def recipient_of(user, note) -> NotificationRecipient:
    with tenant_context(note.merchant_id):
        return NotificationRecipient.objects.get(user=user, notification=note)


def listed(response) -> list[str]:
    return [item["title"] for item in response.context["items"]]


def badge(client: Client, path: str = "/") -> int:
    return client.get(path).context["notification_badge"]["unread"]


def test_the_list_shows_my_notifications_newest_first_with_links_to_orders(people, make_order):
    order = make_order(people["a1"])
    notify(people["a1"], "Older note")
    notify(
        people["a1"],
        f"Order {order.external_id}: the buyer asked to cancel",
        order=order,
        kind=NotificationKind.BUYER_CANCEL_REQUESTED,
    )

    response = login(people["admin"]).get(LIST)

    assert response.status_code == 200
    assert listed(response) == [
        f"Order {order.external_id}: the buyer asked to cancel",
        "Older note",
    ]
    first = response.context["items"][0]
    assert first["unread"] and first["kind"] == "Buyer asked to cancel"
    assert first["order_url"] == reverse("portal:orders_order_change", args=[order.pk])
    assert response.context["items"][1]["order_url"] is None
    page = response.content.decode()
    assert first["order_url"] in page
    assert page.count("keelson-unread") == 2
    assert page.count("Mark as read") == 2 and "Mark all read" in page


def test_the_list_is_paginated(people):
    for n in range(views.PER_PAGE + 3):
        notify(people["a1"], f"Note {n}")
    client = login(people["admin"])

    first = client.get(LIST)
    second = client.get(LIST, {"page": 2})

    assert len(first.context["items"]) == views.PER_PAGE
    assert listed(first)[0] == f"Note {views.PER_PAGE + 2}"
    assert listed(second) == ["Note 2", "Note 1", "Note 0"]
    assert "Page 1 of 2" in first.content.decode()


def test_mark_one_read_then_all_read(people):
    notes = [notify(people["a1"], f"Note {n}") for n in range(3)]
    client = login(people["admin"])
    assert badge(client) == 3

    mine = recipient_of(people["admin"], notes[0])
    response = client.post(reverse("portal:notification_read", args=[mine.pk]), {"next": LIST})
    assert response.status_code == 302 and response["Location"] == LIST
    assert badge(client) == 2
    assert recipient_of(people["viewer"], notes[0]).read_at is None, "read state is per person"

    client.post(reverse("portal:notifications_read_all"))
    assert badge(client) == 0
    assert client.get(LIST, {"unread": "1"}).context["items"] == []
    assert recipient_of(people["viewer"], notes[1]).read_at is None


def test_marking_read_is_a_post_with_csrf(people):
    note = notify(people["a1"], "Note")
    mine = recipient_of(people["admin"], note)
    url = reverse("portal:notification_read", args=[mine.pk])

    assert login(people["admin"]).get(url).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(people["admin"])
    assert strict.post(url).status_code == 403
    assert strict.post(reverse("portal:notifications_read_all")).status_code == 403
    assert recipient_of(people["admin"], note).read_at is None


def test_notification_badge_counts_only_own_merchant_R4(people):
    notify(people["a1"], "For a1")
    notify(people["a2"], "For a2")
    notify(people["b1"], "For b1")
    notify(people["b1"], "For b1 again")

    assert badge(login(people["admin"])) == 1  # a1 only
    assert badge(login(people["a2_admin"])) == 1
    assert badge(login(people["owner"])) == 2  # all of agency A's merchants
    assert badge(login(people["other"])) == 2  # agency B's only
    # On every portal page, not just the dashboard.
    client = login(people["admin"])
    for path in (LIST, "/orders/order/", "/tenants/amazonaccount/"):
        response = client.get(path)
        assert response.context["notification_badge"]["unread"] == 1, path
        assert 'id="notification-badge"' in response.content.decode(), path


def test_the_badge_and_the_list_follow_the_merchant_switcher(people):
    notify(people["a1"], "For a1")
    notify(people["a2"], "For a2")
    client = login(people["owner"])
    assert set(listed(client.get(LIST))) == {"For a1", "For a2"}
    assert client.get(LIST).context["several_merchants"]

    client.post("/merchant/switch/", {"merchant": people["a2"].pk, "next": LIST})

    assert listed(client.get(LIST)) == ["For a2"]
    assert badge(client) == 1
    client.post(reverse("portal:notifications_read_all"))  # a2's only
    client.post("/merchant/switch/", {"merchant": "all", "next": LIST})
    assert badge(client) == 1
    assert [i["title"] for i in client.get(LIST).context["items"] if i["unread"]] == ["For a1"]


def test_tenants_never_see_each_others_notifications(people):
    ours = notify(people["a1"], "A1 secret: order 111")
    theirs = notify(people["b1"], "B1 secret: order 222")
    other = login(people["other"])
    owner = login(people["owner"])

    assert listed(other.get(LIST)) == ["B1 secret: order 222"]
    assert "A1 secret" not in other.get(LIST).content.decode()
    assert listed(owner.get(LIST)) == ["A1 secret: order 111"]

    # Marking another tenant's (or another user's) copy read changes nothing and says nothing.
    their_copy = recipient_of(people["other"], theirs)
    response = owner.post(reverse("portal:notification_read", args=[their_copy.pk]))
    assert response.status_code == 302
    assert recipient_of(people["other"], theirs).read_at is None
    colleague = recipient_of(people["viewer"], ours)
    login(people["admin"]).post(reverse("portal:notification_read", args=[colleague.pk]))
    assert recipient_of(people["viewer"], ours).read_at is None
    owner.post(reverse("portal:notifications_read_all"))
    assert recipient_of(people["other"], theirs).read_at is None


def test_a_user_without_merchants_gets_no_notification_page(people, make_user):
    nobody = make_user()
    response = login(nobody).get(LIST)
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_badge_is_one_count_query_per_request(people):
    for n in range(5):
        notify(people["a1"], f"Note {n}")
    request = RequestFactory().get("/")
    request.user = people["owner"]
    request.merchant_ids = frozenset({people["a1"].pk, people["a2"].pk})

    with tenant_context(request.merchant_ids), CaptureQueriesContext(connection) as queries:
        assert views.unread_badge(request) == 5
        assert views.unread_badge(request) == 5  # cached for the request
    counts = [q["sql"] for q in queries if "notifications_notificationrecipient" in q["sql"]]
    assert len(counts) == 1 and "COUNT(" in counts[0]
