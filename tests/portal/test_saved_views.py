"""Saved views of the order list: a user names the list's current filters ("Save this view"),
finds them as links above the list in the same merchant scope, and deletes them. Nobody else
ever sees them; only the list's own parameters are stored."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from portal.models import SavedListView
from tests.portal.conftest import changelist_pks, switch_to

pytestmark = pytest.mark.django_db

LIST = "/orders/order/"
SAVE = "/orders/order/saved-views/save/"


def saved_names(client, query: dict | None = None) -> list[str]:
    html = client.get(LIST, query or {}).content.decode()
    return re.findall(r'data-saved-view="([^"]*)"', html)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_the_at_risk_queue_is_saved_and_found_again_above_the_list_A9(tenancy, login, make_order):
    now = timezone.now()
    risky = make_order(
        tenancy.a1,
        purchase_date=now - timedelta(days=25),
        latest_ship_date=now + timedelta(days=1),
    )
    make_order(tenancy.a1)
    client = login(tenancy.merchant_admin)

    listing = client.get(LIST, {"attention": "at_risk", "p": "1"})
    assert listing.context["current_query"] == "attention=at_risk"  # the page is not a filter
    saved = client.post(SAVE, {"name": "  At   risk ", "query": "attention=at_risk&p=1"})
    assert saved.status_code == 302
    assert saved["Location"] == LIST + "?attention=at_risk"

    view = SavedListView.objects.get(user=tenancy.merchant_admin)
    assert (view.name, view.query, view.page) == ("At risk", "attention=at_risk", "orders_order")
    assert view.merchant_id == tenancy.a1.pk  # the scope it was saved in

    page = client.get(LIST, {"attention": "at_risk"})
    html = page.content.decode()
    assert re.search(r'data-saved-view="At risk" data-active="1"', html)
    assert 'href="/orders/order/?attention=at_risk"' in html
    assert changelist_pks(page) == {risky.pk}
    # On the unfiltered list the view is listed, not highlighted.
    assert saved_names(client) == ["At risk"]
    assert "data-active" not in client.get(LIST).content.decode().split('id="saved-views"')[1][:600]


def test_a_view_needs_a_name_unique_for_the_user(tenancy, login):
    client = login(tenancy.merchant_staff)

    blank = client.post(SAVE, {"name": "   ", "query": "status__exact=Unshipped"}, follow=True)
    assert "Give the view a name." in messages_of(blank)
    assert not SavedListView.objects.exists()

    client.post(SAVE, {"name": "Unshipped", "query": "status__exact=Unshipped"})
    again = client.post(SAVE, {"name": "UNSHIPPED", "query": "status__exact=Shipped"}, follow=True)
    assert any("already have a view named" in m for m in messages_of(again))
    assert list(SavedListView.objects.values_list("name", "query")) == [
        ("Unshipped", "status__exact=Unshipped")
    ]
    # The same name is another user's to take.
    login(tenancy.merchant_admin).post(SAVE, {"name": "Unshipped", "query": ""})
    assert SavedListView.objects.filter(name="Unshipped").count() == 2


@pytest.mark.parametrize(
    "query",
    [
        "attention=at_risk&evil=1",  # not a parameter of the list
        "status=Unshipped",  # a raw field lookup, not one of the list's filters
        "merchant__id__exact=1",  # the merchant filter exists only in "All my merchants"
        "q=" + "x" * 201,  # too long
    ],
)
def test_only_the_lists_own_filter_parameters_are_stored(tenancy, login, query):
    client = login(tenancy.merchant_admin)
    response = client.post(SAVE, {"name": "Odd", "query": query}, follow=True)
    assert response.status_code == 200
    assert messages_of(response), "the refusal is said on the page"
    assert not SavedListView.objects.exists()


def test_search_ordering_and_every_shown_filter_are_kept(tenancy, login):
    client = login(tenancy.agency_owner)  # "All my merchants": the merchant filter is shown
    query = (
        f"merchant__id__exact={tenancy.a2.pk}&status__exact=Unshipped&attention=late"
        "&purchased_on=2026-01-15&q=Lovelace&o=-2&p=4&e=1"
    )
    client.post(SAVE, {"name": "Mixed", "query": query})
    assert SavedListView.objects.get().query == (
        f"merchant__id__exact={tenancy.a2.pk}&status__exact=Unshipped&attention=late"
        "&purchased_on=2026-01-15&q=Lovelace&o=-2"
    )


def test_saved_views_are_per_user_and_per_merchant_scope(tenancy, login):
    owner = login(tenancy.agency_owner)
    owner.post(SAVE, {"name": "Everything late", "query": "attention=late"})  # All my merchants
    switch_to(owner, tenancy.a1)
    assert saved_names(owner) == []  # saved for "All my merchants", not for A-one
    owner.post(SAVE, {"name": "A-one pending", "query": "attention=pending"})
    assert saved_names(owner) == ["A-one pending"]
    switch_to(owner, "all")
    assert saved_names(owner) == ["Everything late"]

    # Another user of the same agency, and another tenant's owner, see none of them.
    staff = login(tenancy.agency_staff)
    assert saved_names(staff) == []
    switch_to(staff, tenancy.a1)
    assert saved_names(staff) == []
    assert saved_names(login(tenancy.other_owner)) == []


def test_a_user_deletes_their_own_views_and_no_one_elses(tenancy, login):
    owner = login(tenancy.agency_owner)
    owner.post(SAVE, {"name": "Late", "query": "attention=late"})
    view = SavedListView.objects.get()
    delete = f"/orders/order/saved-views/{view.pk}/delete/"

    assert login(tenancy.agency_staff).post(delete).status_code == 404
    assert login(tenancy.other_owner).post(delete).status_code == 404
    assert owner.get(delete).status_code == 405  # a GET changes nothing
    assert SavedListView.objects.filter(pk=view.pk).exists()

    gone = owner.post(delete, {"next": LIST + "?attention=late"})
    assert gone.status_code == 302 and gone["Location"] == LIST + "?attention=late"
    assert not SavedListView.objects.exists()
    # An outside "next" is not followed.
    owner.post(SAVE, {"name": "Late", "query": "attention=late"})
    again = owner.post(
        f"/orders/order/saved-views/{SavedListView.objects.get().pk}/delete/",
        {"next": "https://evil.example/"},
    )
    assert again["Location"] == LIST


def test_a_viewer_saves_views_too(tenancy, login):
    client = login(tenancy.viewer)
    assert 'id="save-view"' in client.get(LIST).content.decode()
    client.post(SAVE, {"name": "Shipped", "query": "status__exact=Shipped"})
    assert saved_names(client) == ["Shipped"]
