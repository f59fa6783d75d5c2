"""The order list's "Export CSV": the rows the list shows (its filters, search and ordering, every
page), streamed in chunks, only the merchants in scope, dates in the merchant's time zone, and
"at risk" as the list's at-risk filter counts it (A9, A8)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tenants.models import Role

pytestmark = pytest.mark.django_db

EXPORT = "/orders/order/export.csv"
HEADER = [
    "Order ID",
    "Channel",
    "Marketplace",
    "Marketplace ID",
    "Purchase date",
    "Status",
    "Fulfilled by",
    "Fulfillment status",
    "Ship by",
    "Confirm shipment by",
    "At risk",
    "Late",
    "Buyer asked to cancel",
    "Buyer name",
    "Total",
    "Currency",
    "Shopify order",
    "Time zone",
]


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def download(client: Client, query: dict | None = None) -> tuple[list[str], list[dict]]:
    """The export's pieces as streamed, and its rows parsed."""
    response = client.get(EXPORT, query or {})
    assert response.status_code == 200, response
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    pieces = [piece.decode("utf-8") for piece in response.streaming_content]
    text = "".join(pieces)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    return pieces, rows


def test_the_export_has_the_header_and_the_merchants_local_dates(
    make_merchant, make_user, make_order
):
    merchant = make_merchant(time_zone="Europe/Berlin")
    user = make_user(role=Role.MERCHANT_VIEWER, merchant=merchant)
    # 23:30 UTC on 15 January is 00:30 on the 16th in Berlin.
    purchased = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    make_order(
        merchant,
        purchase_date=purchased,
        latest_ship_date=purchased + timedelta(days=2),
        external_id="114-0000001-0000001",
        buyer_name="=HYPERLINK(evil)",
        total_amount="49.90",
        currency="EUR",
        shopify_order_name="#1001",
    )

    response = client_for(user).get(EXPORT)
    text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text))
    assert next(reader) == HEADER  # one merchant in scope: no merchant column
    (row,) = [dict(zip(HEADER, line, strict=True)) for line in reader]

    assert row["Order ID"] == "114-0000001-0000001"
    assert row["Marketplace"] == "Amazon.com"
    assert row["Purchase date"] == "2026-01-16 00:30"
    assert row["Ship by"] == "2026-01-18 00:30"
    assert row["Time zone"] == "Europe/Berlin"
    assert row["Status"] == "Unshipped"
    assert row["Total"] == "49.90" and row["Currency"] == "EUR"
    assert row["Shopify order"] == "#1001"
    # A buyer name a spreadsheet would run as a formula is written as text.
    assert row["Buyer name"] == "'=HYPERLINK(evil)"


def test_the_export_honours_the_lists_filters_search_and_ordering(
    make_merchant, make_user, make_order
):
    merchant = make_merchant()
    user = make_user(role=Role.MERCHANT_ADMIN, merchant=merchant)
    now = timezone.now()
    newer = make_order(merchant, purchase_date=now - timedelta(days=1), buyer_name="Ada Lovelace")
    older = make_order(merchant, purchase_date=now - timedelta(days=2))
    shipped = make_order(merchant, status="Shipped", purchase_date=now - timedelta(days=3))
    client = client_for(user)

    _, rows = download(client)
    assert [r["Order ID"] for r in rows] == [
        newer.external_id,
        older.external_id,
        shipped.external_id,
    ]  # the list's own order: newest purchase first
    _, rows = download(client, {"status__exact": "Unshipped"})
    assert {r["Order ID"] for r in rows} == {newer.external_id, older.external_id}
    _, rows = download(client, {"q": "Ada Lovelace"})
    assert [r["Order ID"] for r in rows] == [newer.external_id]
    # Ordering by purchase date, oldest first (the list's column 2 ascending).
    _, rows = download(client, {"o": "2"})
    assert [r["Order ID"] for r in rows] == [
        shipped.external_id,
        older.external_id,
        newer.external_id,
    ]


def test_the_at_risk_column_and_filter_agree_A9(make_merchant, make_user, make_order):
    merchant = make_merchant()
    user = make_user(role=Role.MERCHANT_ADMIN, merchant=merchant)
    now = timezone.now()
    # 25 days after the order date: inside the week before A8's 30-day deadline (A9).
    risky = make_order(
        merchant, purchase_date=now - timedelta(days=25), latest_ship_date=now + timedelta(days=1)
    )
    calm = make_order(merchant, purchase_date=now - timedelta(days=1))
    client = client_for(user)

    _, rows = download(client)
    at_risk = {r["Order ID"]: r["At risk"] for r in rows}
    assert at_risk == {risky.external_id: "Yes", calm.external_id: "No"}
    confirm_by = {r["Order ID"]: r["Confirm shipment by"] for r in rows}
    assert confirm_by[risky.external_id]  # the A8 deadline is exported

    _, rows = download(client, {"attention": "at_risk"})
    assert [r["Order ID"] for r in rows] == [risky.external_id]


def test_every_row_comes_out_over_several_chunks(make_merchant, make_user, make_order, settings):
    settings.KEELSON_EXPORT_CHUNK_SIZE = 3
    merchant = make_merchant()
    user = make_user(role=Role.MERCHANT_ADMIN, merchant=merchant)
    orders = [make_order(merchant) for _ in range(8)]

    pieces, rows = download(client_for(user))

    # The header, then one piece per chunk of three orders: 3 + 3 + 2.
    assert len(pieces) == 1 + 3
    assert [len(piece.splitlines()) for piece in pieces[1:]] == [3, 3, 2]
    assert sorted(r["Order ID"] for r in rows) == sorted(o.external_id for o in orders)


def test_another_tenants_orders_never_appear_and_all_my_merchants_adds_the_merchant(
    make_agency, make_merchant, make_user, make_order
):
    agency, other_agency = make_agency(), make_agency()
    a1 = make_merchant(agency=agency, name="Alpha One")
    a2 = make_merchant(agency=agency, name="Alpha Two", time_zone="America/New_York")
    theirs = make_merchant(agency=other_agency, name="Bravo")
    owner = make_user(role=Role.AGENCY_OWNER, agency=agency)
    admin_of_a1 = make_user(role=Role.MERCHANT_ADMIN, merchant=a1)
    mine = [make_order(a1), make_order(a2)]
    hidden = make_order(theirs)

    response = client_for(owner).get(EXPORT)
    text = b"".join(response.streaming_content).decode("utf-8").removeprefix("\ufeff")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0] == ["Merchant", *HEADER]  # "All my merchants": whose order it is
    rows = [dict(zip(lines[0], line, strict=True)) for line in lines[1:]]
    assert {(r["Merchant"], r["Order ID"]) for r in rows} == {
        ("Alpha One", mine[0].external_id),
        ("Alpha Two", mine[1].external_id),
    }
    assert {r["Time zone"] for r in rows} == {"UTC", "America/New_York"}
    assert hidden.external_id not in text
    # Filtering by merchant, as the list does in that scope.
    _, rows = download(client_for(owner), {"merchant__id__exact": str(a2.pk)})
    assert [r["Order ID"] for r in rows] == [mine[1].external_id]
    # Nor does another tenant's merchant id in the query string reach its orders.
    _, rows = download(client_for(owner), {"merchant__id__exact": str(theirs.pk)})
    assert rows == []

    _, rows = download(client_for(admin_of_a1))
    assert [r["Order ID"] for r in rows] == [mine[0].external_id]


def test_anyone_who_can_view_orders_sees_the_button_and_the_link_keeps_the_filters(
    make_merchant, make_user, make_order
):
    merchant = make_merchant()
    viewer = make_user(role=Role.MERCHANT_VIEWER, merchant=merchant)
    make_order(merchant)
    client = client_for(viewer)

    page = client.get("/orders/order/", {"status__exact": "Unshipped", "p": "1"})
    html = page.content.decode()
    assert 'id="export-csv"' in html
    assert page.context["export_csv_url"] == EXPORT + "?status__exact=Unshipped"
    _, rows = download(client)
    assert len(rows) == 1

    assert Client().get(EXPORT).status_code == 302  # logged out: to the login page
