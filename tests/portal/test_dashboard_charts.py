"""The dashboard's charts (rules A3, A8, A9): orders per day over the last 30 days and the
confirm-by deadlines of the coming 14, counted in SQL on the merchant's own days, for the scope
the switcher chose, each day linking to its orders; and the Amazon sync of each account in
scope (issue #3)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orders import dashboard
from orders.models import AmazonSyncState, Order
from tenants.scope import tenant_context
from tests.portal.conftest import changelist_pks, switch_to

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def set_zone(merchant, zone: str) -> None:
    merchant.time_zone = zone
    merchant.save(update_fields=["time_zone"])


def deadline_order(make_order, merchant, confirm_by: datetime, **fields) -> Order:
    order = make_order(merchant, recompute=False, **fields)
    with tenant_context(merchant):
        Order.objects.filter(pk=order.pk).update(confirm_by=confirm_by)
    return order


def charts(response) -> dict:
    return {chart["key"]: chart for chart in response.context["order_charts"]}


def bar(chart: dict, day: date) -> dict:
    return next(b for b in chart["bars"] if b["day"] == day)


def test_orders_per_day_count_on_the_merchants_own_day_in_tokyo(tenancy, make_order):
    a1 = tenancy.a1
    set_zone(a1, "Asia/Tokyo")  # UTC+9
    make_order(a1, purchase_date=utc(2025, 3, 9, 16, 0))  # 10 March 01:00 in Tokyo
    make_order(a1, purchase_date=utc(2025, 3, 9, 14, 59))  # 9 March 23:59 in Tokyo
    make_order(a1, purchase_date=utc(2025, 3, 10, 2, 0))  # 10 March in Tokyo
    make_order(a1, purchase_date=utc(2025, 2, 8, 14, 0))  # 8 Feb 23:00: before the 30 days
    make_order(a1, purchase_date=utc(2025, 2, 8, 15, 0))  # 9 Feb 00:00: the first day
    make_order(tenancy.b1, purchase_date=utc(2025, 3, 10, 2, 0))  # another agency's

    with tenant_context(a1):
        counts = dashboard.orders_per_day([a1.pk], NOW)

    assert counts.zone == "Asia/Tokyo"
    assert counts.days[0] == date(2025, 2, 9) and counts.days[-1] == date(2025, 3, 10)
    assert len(counts.days) == 30
    assert counts.totals == {date(2025, 3, 10): 2, date(2025, 3, 9): 1, date(2025, 2, 9): 1}
    assert counts.total == 4


def test_orders_per_day_is_one_aggregate_query_per_time_zone(tenancy, make_order):
    for day in range(10):
        make_order(tenancy.a1, purchase_date=NOW - timedelta(days=day))
        make_order(tenancy.a2, purchase_date=NOW - timedelta(days=day))
    set_zone(tenancy.a2, "America/Los_Angeles")
    scope = [tenancy.a1.pk, tenancy.a2.pk]

    with tenant_context(scope), CaptureQueriesContext(connection) as queries:
        counts = dashboard.orders_per_day(scope, NOW)

    orders_queries = [q["sql"] for q in queries if '"orders_order"' in q["sql"]]
    assert len(orders_queries) == 2, "one GROUP BY per time zone, not a loop over orders"
    assert all("GROUP BY" in sql for sql in orders_queries)
    assert counts.total == 20
    assert counts.by_merchant[NOW.date()] == {tenancy.a1.pk: 1, tenancy.a2.pk: 1}


def test_confirm_by_deadlines_count_open_unconfirmed_orders_by_local_day_A8(tenancy, make_order):
    a1 = tenancy.a1
    set_zone(a1, "America/New_York")  # UTC-4 in March (DST from 9 March 2025)
    deadline_order(make_order, a1, utc(2025, 3, 11, 3, 0))  # 10 March 23:00 in New York
    deadline_order(make_order, a1, utc(2025, 3, 11, 5, 0))  # 11 March
    deadline_order(make_order, a1, utc(2025, 3, 23, 12, 0))  # the 14th day
    deadline_order(make_order, a1, utc(2025, 3, 24, 12, 0))  # beyond the 14 days
    deadline_order(make_order, a1, utc(2025, 3, 12), status="Shipped")  # not open
    deadline_order(make_order, a1, utc(2025, 3, 12), fulfillment_channel="AFN")  # R5
    deadline_order(make_order, a1, utc(2025, 3, 12), shipment_confirmation="confirmed")
    deadline_order(make_order, a1, utc(2025, 3, 9))  # past: Amazon cancels it
    deadline_order(make_order, tenancy.b1, utc(2025, 3, 12))  # another agency's

    with tenant_context(a1):
        counts = dashboard.confirm_deadlines_per_day([a1.pk], NOW)

    assert counts.days[0] == date(2025, 3, 10) and counts.days[-1] == date(2025, 3, 23)
    assert counts.totals == {date(2025, 3, 10): 1, date(2025, 3, 11): 1, date(2025, 3, 23): 1}
    assert counts.overdue == 1


def test_all_my_merchants_adds_up_each_merchant_and_the_switcher_narrows_it(
    tenancy, login, make_order
):
    now = timezone.now()
    for _ in range(2):
        make_order(tenancy.a1, purchase_date=now - timedelta(hours=1))
    make_order(tenancy.a2, purchase_date=now - timedelta(hours=1))
    make_order(tenancy.b1, purchase_date=now - timedelta(hours=1))
    client = login(tenancy.agency_owner)

    placed = charts(client.get("/"))["orders_per_day"]
    # Summed over the bars: an hour ago may be yesterday on the merchants' calendars.
    assert sum(b["count"] for b in placed["bars"]) == 3
    titles = " ".join(b["title"] for b in placed["bars"] if b["count"])
    assert tenancy.a1.name in titles  # the split, in the tooltip
    assert tenancy.b1.name not in titles

    switch_to(client, tenancy.a2)
    placed = charts(client.get("/"))["orders_per_day"]
    assert sum(b["count"] for b in placed["bars"]) == 1


def test_each_bar_links_to_the_orders_it_counts(tenancy, login, make_order):
    a1 = tenancy.a1
    set_zone(a1, "Pacific/Kiritimati")  # UTC+14: its day is rarely UTC's
    now = timezone.now()
    placed_today = make_order(a1, purchase_date=now - timedelta(minutes=5))
    make_order(a1, purchase_date=now - timedelta(days=3))
    make_order(tenancy.b1, purchase_date=now - timedelta(minutes=5))
    soon = deadline_order(make_order, a1, now + timedelta(days=2))
    overdue = deadline_order(make_order, a1, now - timedelta(hours=1))
    client = login(tenancy.agency_owner)

    response = client.get("/")
    shown = charts(response)
    today_bar = max(
        (b for b in shown["orders_per_day"]["bars"] if b["count"]), key=lambda b: b["day"]
    )
    assert today_bar["count"] == 1
    assert changelist_pks(client.get(today_bar["link"])) == {placed_today.pk}
    empty = next(b for b in shown["orders_per_day"]["bars"] if not b["count"])
    assert empty["link"] is None and ": 0 orders" in empty["title"]

    deadlines = shown["confirm_by"]
    due_bar = next(b for b in deadlines["bars"] if b["count"])
    assert changelist_pks(client.get(due_bar["link"])) == {soon.pk}
    assert deadlines["overdue"]["count"] == 1
    assert changelist_pks(client.get(deadlines["overdue"]["link"])) == {overdue.pk}

    page = response.content.decode()
    assert f'href="{today_bar["link"]}"'.replace("&", "&amp;") in page
    assert 'data-chart="orders_per_day"' in page and 'data-chart="confirm_by"' in page
    assert "cdn" not in page.lower(), "the charts are drawn on the server, offline"


def test_a_chart_day_filter_never_shows_another_tenants_orders(tenancy, login, make_order):
    now = timezone.now()
    make_order(tenancy.b1, purchase_date=now)
    day = now.date().isoformat()

    response = login(tenancy.agency_owner).get(
        "/orders/order/", {"purchased_on": day, "merchant__id__exact": tenancy.b1.pk}
    )

    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert changelist_pks(response) == set()


# --- the Amazon sync on the dashboard (issue #3) ---------------------------------------------


def test_sync_progress_shows_backfill_live_and_auth_failed_accounts(
    tenancy, login, make_amazon_account
):
    now = timezone.now()
    backfilling = make_amazon_account(tenancy.a1, name="A1 US")
    live = make_amazon_account(tenancy.a2, name="A2 EU", sync_cursor=now - timedelta(minutes=3))
    failed = make_amazon_account(tenancy.a2, name="A2 JP", status="auth_failed")
    make_amazon_account(tenancy.b1, name="B1 secret account")
    with tenant_context(tenancy.a1):
        AmazonSyncState.objects.create(
            merchant=tenancy.a1,
            account=backfilling,
            backfill_days=30,
            backfill_from=now - timedelta(days=30),
            backfill_to=now,
            backfill_position=now - timedelta(days=20),  # a third read
            backfill_pages=12,
            backfill_orders=1150,
            backfill_started_at=now - timedelta(minutes=10),
            last_success_at=now - timedelta(minutes=1),
        )
    with tenant_context(tenancy.a2):
        AmazonSyncState.objects.create(
            merchant=tenancy.a2, account=live, last_success_at=now - timedelta(seconds=40)
        )

    response = login(tenancy.agency_owner).get("/")

    rows = {row["account_id"]: row for row in response.context["amazon_sync"]}
    assert set(rows) == {backfilling.pk, live.pk, failed.pk}
    assert rows[backfilling.pk]["label"] == "Backfilling"
    assert rows[backfilling.pk]["progress"] == 33
    assert "12 pages, 1150 orders" in rows[backfilling.pk]["detail"]
    assert "about 20 minutes left" in rows[backfilling.pk]["detail"]
    assert rows[live.pk]["label"] == "Live" and rows[live.pk]["last_success_at"] is not None
    assert rows[failed.pk]["label"] == "Authorisation failed"
    assert "reconnect" in rows[failed.pk]["detail"]
    page = response.content.decode()
    assert 'id="amazon-sync"' in page and 'data-phase="backfilling"' in page
    assert "B1 secret account" not in page


def test_no_amazon_account_no_sync_section(tenancy, login):
    response = login(tenancy.merchant_admin).get("/")
    assert response.context["amazon_sync"] == []
    assert 'id="amazon-sync"' not in response.content.decode()
