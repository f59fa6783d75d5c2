"""The Amazon order sync against the SP-API emulator: real HTTP, the real python-amazon-sp-api
classes, our gateway, the upsert, the sync state in PostgreSQL (rules R1, R5, B1, B3, B5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.test import Client
from django.utils import timezone

from notifications.models import Notification
from orders import sync
from orders.models import AmazonSyncState, EventKind, Order, OrderEvent
from orders.selectors import amazon_sync_statuses
from tenants.models import AccountStatus, AmazonAccount, Role
from tenants.scope import tenant_context
from tests.support.amazon_sync import (
    amazon_now,
    connect,
    cursor_of,
    differences,
    emulated_orders,
    fault_hits,
    imported_events_per_order,
    iso,
    run_sync,
    state_of,
    sync_until_caught_up,
    window,
)
from tests.support.processes import ROOT, child_database_env

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_backfill_of_2000_orders_through_faults_equals_amazon_then_live_changes_follow(
    unlimited, make_merchant
):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    control = sandbox.control
    now = amazon_now(sandbox)
    control.generate_orders(
        sid, 2000, seed="keelson-backfill", **window(now, days_ago=20, hours_ago=6)
    )
    merchant = make_merchant()
    account = connect(merchant, sandbox)

    # Faults while the backfill runs: every tenth request a 500, a 429 storm longer than the
    # gateway's retries (twice), a malformed (HTML) page and a truncated JSON page.
    control.inject_fault("error_500", share=0.1, duration_seconds=600)
    control.inject_fault("throttle", count=6, operations=["searchOrders"])
    control.inject_fault("malformed", count=1, operations=["searchOrders"])
    control.inject_fault("truncated", count=1, operations=["searchOrders"])
    reports = sync_until_caught_up(account)

    assert [r.outcome for r in reports].count("throttled") >= 1  # the storm made it yield
    assert all(r.next_sync_at is not None for r in reports)
    state = state_of(account)
    assert state.backfill_finished_at is not None
    assert state.backfill_pages == 20  # no page read twice (an order Amazon changed meanwhile
    assert 1990 <= state.backfill_orders <= 2000  # leaves the backfill for the live lane)
    hits = fault_hits(sandbox)
    assert hits["throttle"] == 6 and hits["malformed"] == 1 and hits["truncated"] == 1
    assert hits["error_500"] >= 2
    problems, compared, later = differences(account, emulated_orders(sid))
    assert problems == []
    assert compared >= 1990 and later <= 10
    assert set(imported_events_per_order(merchant).values()) == {1}
    with tenant_context(merchant):
        assert Order.objects.count() == 2000

    # Live: new orders, a buyer's cancellation request, Amazon's own changes, then time passes.
    control.clear_faults()
    control.inject_fault("error_503", share=0.1, duration_seconds=600)
    unshipped = next(
        o
        for o in emulated_orders(sid).values()
        if o["status"] == "Unshipped" and o["fulfillment_channel"] == "MFN"
    )
    control.request_buyer_cancellation(sid, unshipped["amazon_order_id"], reason="Too slow.")
    placed = [
        control.place_order(sid, items=[{"quantity": 2}])["amazon_order_id"] for _ in range(5)
    ]
    control.advance_clock(minutes=35)
    reports = sync_until_caught_up(account)
    assert sum(r.v0_pages for r in reports) >= 1  # a small delta: Orders v0

    problems, compared, later = differences(account, emulated_orders(sid))
    assert problems == []
    assert later <= 10
    with tenant_context(merchant):
        assert Order.objects.count() == 2005
        assert set(
            Order.objects.filter(external_id__in=placed).values_list("status", flat=True)
        ) == {"Unshipped"}
        cancelled = Order.objects.get(external_id=unshipped["amazon_order_id"])
        assert cancelled.buyer_cancel_requested and cancelled.buyer_cancel_reason == "Too slow."
    assert set(imported_events_per_order(merchant).values()) == {1}


def test_the_sync_killed_mid_backfill_resumes_with_nothing_missing_or_doubled(
    unlimited, make_merchant, settings
):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    control = sandbox.control
    control.generate_orders(
        sid, 1000, seed="keelson-kill", **window(amazon_now(sandbox), days_ago=10, hours_ago=6)
    )
    merchant = make_merchant()
    account = connect(merchant, sandbox)
    control.inject_fault(
        "latency", latency_ms=400, operations=["searchOrders"], duration_seconds=60
    )
    settings.KEELSON_SYNC_LEASE_SECONDS = 3
    env = child_database_env(
        KEELSON_AMAZON_RATE_LIMITS="0", KEELSON_SYNC_LEASE_SECONDS="3", KEELSON_SYNC_MAX_WAIT="0.2"
    )
    child = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "sync_amazon", "--account", str(account.pk)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while state_of(account).backfill_pages < 3:
            assert child.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline, "the backfill did not start"
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
    assert 3 <= state_of(account).backfill_pages < 10  # killed mid-backfill
    # The dead worker's lease holds the account until it expires; then a new run resumes.
    deadline = time.monotonic() + 30
    while (report := run_sync(account)).outcome == "lease_busy":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    if report.outcome != "caught_up":
        sync_until_caught_up(account)

    state = state_of(account)
    assert state.backfill_pages == 10 and state.backfill_orders == 1000  # no page read twice
    problems, _, later = differences(account, emulated_orders(sid))
    assert problems == [] and later <= 5
    assert len(imported_events_per_order(merchant)) == 1000
    assert set(imported_events_per_order(merchant).values()) == {1}


def test_two_workers_on_one_account_the_lease_lets_one_run(unlimited, make_merchant):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    control = sandbox.control
    control.generate_orders(
        sid, 300, seed="keelson-two", **window(amazon_now(sandbox), days_ago=5, hours_ago=6)
    )
    merchant = make_merchant()
    account = connect(merchant, sandbox)
    control.inject_fault("latency", latency_ms=300, duration_seconds=60)
    barrier = threading.Barrier(2)
    reports: list = []

    def worker() -> None:
        try:
            barrier.wait()
            reports.append(run_sync(account))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.outcome for r in reports) == ["caught_up", "lease_busy"]
    assert [r.ran for r in reports].count(True) == 1
    with tenant_context(merchant):
        assert Order.objects.count() == 300
        assert AmazonAccount.objects.get(pk=account.pk).lease_owner == ""  # released
    assert set(imported_events_per_order(merchant).values()) == {1}


def test_status_changes_and_a_buyer_cancellation_request_are_on_the_timeline_once_B1_B5(
    unlimited, make_merchant, make_user
):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    control = sandbox.control
    merchant = make_merchant()
    make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="ops@seller.example")
    account = connect(merchant, sandbox, backfill_days=1)
    sync_until_caught_up(account)
    placed = control.place_order(
        sid, items=[{"quantity": 1, "seller_sku": "MUG-1"}, {"quantity": 2, "seller_sku": "MUG-2"}]
    )
    order_id = placed["amazon_order_id"]
    control.advance_clock(minutes=3)
    sync_until_caught_up(account)
    with tenant_context(merchant):
        order = Order.objects.get(external_id=order_id)
        assert order.status == "Pending"

    control.advance_clock(minutes=30)  # rule A1: Pending for 30 minutes, then Unshipped
    sync_until_caught_up(account)
    control.request_buyer_cancellation(sid, order_id, reason="Order placed by mistake.")
    control.advance_clock(minutes=3)
    sync_until_caught_up(account)
    # Every window again: nothing changes.
    with tenant_context(merchant):
        sync.rewind(account, amazon_now(sandbox) - timedelta(hours=2))
    sync_until_caught_up(account)
    sync_until_caught_up(account)

    with tenant_context(merchant):
        order.refresh_from_db()
        assert order.status == "Unshipped"
        assert order.buyer_cancel_requested
        assert order.buyer_cancel_reason == "Order placed by mistake."
        assert set(order.lines.values_list("buyer_cancel_requested", flat=True)) == {True}
        kinds = list(OrderEvent.objects.filter(order=order).values_list("kind", "message"))
        assert [k for k, _ in kinds] == [
            EventKind.IMPORTED,
            EventKind.STATUS_CHANGED,
            EventKind.BUYER_CANCEL_REQUESTED,
        ]
        assert "from Pending to Unshipped" in kinds[1][1]
        assert "Order placed by mistake." in kinds[2][1]
        [note] = Notification.objects.filter(kind="buyer_cancel_requested")
        assert note.order_id == order.pk
        assert list(note.recipients.values_list("user__email", flat=True)) == ["ops@seller.example"]


def test_afn_orders_and_orders_for_skus_never_listed_are_imported_R1_R5(
    unlimited, make_merchant, make_api_key, call
):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    control = sandbox.control
    merchant = make_merchant()
    account = connect(merchant, sandbox, backfill_days=1)
    now = amazon_now(sandbox)
    past = iso(now - timedelta(hours=2))
    afn = control.place_order(sid, fulfillment_channel="AFN", purchase_date=past, items=[{}])
    unknown = control.place_order(
        sid,
        purchase_date=past,
        items=[{"seller_sku": "NEVER-LISTED-42", "asin": "B0NEVER042", "title": "Mystery box"}],
    )
    sync_until_caught_up(account)

    key = make_api_key(merchant=merchant, scopes=["orders:read"])
    with tenant_context(merchant):
        ours_afn = Order.objects.get(external_id=afn["amazon_order_id"])
        ours_unknown = Order.objects.get(external_id=unknown["amazon_order_id"])
    assert ours_afn.fulfillment_channel == "AFN"
    detail = call("get", f"/api/v1/orders/{ours_afn.pk}/", key=key).json()
    assert detail["allowed_actions"] == []  # read-only (R5)
    assert ours_unknown.channel == "amazon"
    with tenant_context(merchant):
        [line] = ours_unknown.lines.all()
    assert (line.sku, line.asin, line.title) == ("NEVER-LISTED-42", "B0NEVER042", "Mystery box")
    listed = call("get", "/api/v1/orders/", key=key).json()["results"]
    assert {o["id"] for o in listed} == {ours_afn.pk, ours_unknown.pk}


def test_orders_v0_amounts_and_taxes_equal_amazon_in_several_marketplaces(unlimited, make_merchant):
    sandbox = unlimited
    control = sandbox.control
    seller = control.create_seller(
        marketplace_ids=["ATVPDKIKX0DER", "A1F83G8C2ARO7P", "A1VC38T7YXB528"]
    )
    merchant = make_merchant()
    account = connect(merchant, sandbox, seller=seller, backfill_days=0)
    sync_until_caught_up(account)
    # Placed after the cursor: the live lane reads them with getOrders + getOrderItems.
    control.generate_orders(
        seller["selling_partner_id"],
        20,
        seed="keelson-v0",
        placed_from=iso(amazon_now(sandbox) + timedelta(seconds=5)),
        placed_to=iso(amazon_now(sandbox) + timedelta(minutes=3)),
    )
    control.advance_clock(minutes=40)
    reports = sync_until_caught_up(account)
    assert sum(r.search_pages for r in reports) == 0 and sum(r.item_calls for r in reports) == 20
    problems, compared, _ = differences(
        account, emulated_orders(seller["selling_partner_id"]), taxes=True
    )
    assert problems == [] and compared == 20
    with tenant_context(merchant):
        assert {"USD", "GBP", "JPY"} <= set(Order.objects.values_list("currency", flat=True))


def test_a_large_delta_is_read_with_search_orders_items_included(unlimited, make_merchant):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    control = sandbox.control
    merchant = make_merchant()
    account = connect(merchant, sandbox, backfill_days=0)
    sync_until_caught_up(account)
    control.generate_orders(
        sid,
        sync.LARGE_DELTA + 40,
        seed="keelson-large",
        placed_from=iso(amazon_now(sandbox) + timedelta(seconds=5)),
        placed_to=iso(amazon_now(sandbox) + timedelta(minutes=3)),
    )
    control.advance_clock(minutes=10)
    reports = sync_until_caught_up(account)
    assert sum(r.search_pages for r in reports) >= 1
    assert sum(r.item_calls for r in reports) == 0
    problems, compared, _ = differences(account, emulated_orders(sid))
    assert problems == [] and compared == sync.LARGE_DELTA + 40


def test_transient_failures_back_off_and_keep_the_cursor_auth_failure_stops_and_tells(
    unlimited, make_merchant, make_user
):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    control = sandbox.control
    merchant = make_merchant()
    make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="ops@seller.example")
    account = connect(merchant, sandbox, backfill_days=1)
    sync_until_caught_up(account)
    before = cursor_of(account)
    control.advance_clock(minutes=5)

    control.inject_fault("error_503", count=4, operations=["getOrders"])
    failed = run_sync(account)
    assert failed.outcome == "transient"
    assert cursor_of(account) == before
    state = state_of(account)
    with tenant_context(merchant):
        due = AmazonAccount.objects.get(pk=account.pk).next_sync_at
    assert state.failures == 1 and state.last_error
    assert due == failed.next_sync_at >= state.last_error_at + timedelta(seconds=25)  # backoff
    assert sync_until_caught_up(account)[-1].outcome == "caught_up"
    assert cursor_of(account) > before

    control.revoke_tokens(sid)
    control.advance_clock(minutes=5)
    assert run_sync(account).outcome == "auth_failed"
    assert run_sync(account).outcome == "lease_busy"  # an inactive account is not claimed
    with tenant_context(merchant):
        account.refresh_from_db()
        assert account.status == AccountStatus.AUTH_FAILED
        [note] = Notification.objects.filter(kind="general")
        assert "authorisation failed" in note.title
        [status] = amazon_sync_statuses()
        assert status.phase == AccountStatus.AUTH_FAILED

    # Reconnecting (the seller authorises again) carries on from the cursor.
    reconnected = connect(merchant, sandbox)
    assert reconnected.pk == account.pk and reconnected.status == AccountStatus.ACTIVE
    assert cursor_of(account) > before
    assert state_of(account).backfill_finished_at is not None  # no second backfill


def test_backfill_progress_shows_in_the_merchants_api(unlimited, make_merchant, make_api_key, call):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    sandbox.control.generate_orders(
        sid, 500, seed="keelson-progress", **window(amazon_now(sandbox), days_ago=28, hours_ago=6)
    )
    merchant = make_merchant()
    account = connect(merchant, sandbox)
    key = make_api_key(merchant=merchant, scopes=["orders:read"])
    [before] = call("get", "/api/v1/merchants/", key=key).json()["results"][0]["amazon_sync"]
    assert before["phase"] == "backfilling" and before["backfill"]["pages"] == 0
    assert before["backfill"]["progress"] == 0 and before["backfill"]["eta_seconds"] is None

    report = run_sync(account, max_pages=3)  # backfill, live, backfill: then out of budget
    assert report.outcome == "budget" and report.next_sync_at is not None
    [sync_status] = call("get", "/api/v1/merchants/", key=key).json()["results"][0]["amazon_sync"]
    assert sync_status["account"] == account.pk and sync_status["phase"] == "backfilling"
    backfill = sync_status["backfill"]
    assert (backfill["days"], backfill["pages"], backfill["orders"]) == (30, 2, 200)
    assert 0 < backfill["progress"] < 1
    assert backfill["eta_seconds"] is not None and backfill["finished_at"] is None
    assert sync_status["synced_until"] is not None  # the live lane runs beside the backfill

    sync_until_caught_up(account)
    [done] = call("get", f"/api/v1/merchants/{merchant.pk}/", key=key).json()["amazon_sync"]
    assert done["phase"] == "live"
    assert done["backfill"]["progress"] == 1 and done["backfill"]["eta_seconds"] == 0
    assert done["backfill"]["orders"] == 500 and done["backfill"]["pages"] == 5


def test_a_run_bounded_by_steps_reads_that_many_pages_and_the_next_run_goes_on(
    unlimited, make_merchant, settings
):
    """KEELSON_SYNC_RUN_STEPS bounds a run by work (the scale-out test's runs): each lane step
    counts, the run ends out of budget with the next run due now, and the account still ends
    caught up once one run gets a step for each lane."""
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    sandbox.control.generate_orders(
        sid, 300, seed="keelson-steps", **window(amazon_now(sandbox), days_ago=28, hours_ago=6)
    )
    account = connect(make_merchant(), sandbox)
    settings.KEELSON_SYNC_RUN_STEPS = 2

    first = run_sync(account)  # a backfill page, then the live lane's first page
    assert (first.outcome, first.pages) == ("budget", 2)
    assert first.next_sync_at is not None and first.next_sync_at <= timezone.now()

    settings.KEELSON_SYNC_RUN_STEPS = 3  # one step for each lane: the backfill, live and tax
    reports = sync_until_caught_up(account)
    assert all(r.pages <= 3 for r in reports) and reports[-1].outcome == "caught_up"
    assert state_of(account).backfilling is False


def test_accounts_with_recent_activity_are_polled_every_minute_quiet_ones_every_five(
    unlimited, make_merchant
):
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    busy, quiet = make_merchant(), make_merchant()
    busy_account = connect(busy, sandbox, backfill_days=0)
    quiet_account = connect(quiet, sandbox, backfill_days=0)
    with tenant_context(quiet):  # connected two hours ago, nothing changed since
        AmazonAccount.objects.filter(pk=quiet_account.pk).update(
            connected_at=timezone.now() - timedelta(hours=2)
        )
    sandbox.control.place_order(sid, items=[{}])
    sandbox.control.advance_clock(minutes=3)
    sync_until_caught_up(busy_account)
    sync_until_caught_up(quiet_account)

    def pause(account) -> timedelta:
        with tenant_context(account.merchant_id):
            due = AmazonAccount.objects.get(pk=account.pk).next_sync_at
        return due - state_of(account).last_success_at

    assert pause(busy_account) == sync.ACTIVE_INTERVAL - sync.SCHEDULE_SLACK
    # The quiet one saw the same order: it is active now.
    assert pause(quiet_account) == sync.ACTIVE_INTERVAL - sync.SCHEDULE_SLACK
    sandbox.control.advance_clock(minutes=3)
    with tenant_context(quiet):
        AmazonSyncState.objects.filter(account=quiet_account).update(
            last_change_at=timezone.now() - timedelta(hours=2)
        )
    sync_until_caught_up(quiet_account)
    assert pause(quiet_account) == sync.QUIET_INTERVAL - sync.SCHEDULE_SLACK


def test_a_sync_that_keeps_failing_is_never_turned_off_and_the_merchant_is_told_once(
    unlimited, make_merchant, make_user, make_api_key, call, settings
):
    """Sync health (issue 14): Amazon failing run after run (503) never disables the account;
    at the fifth failure in a row the merchant is told once, in plain words, that retries go
    on; the count, the last error and the next try show in the API and on the dashboard; the
    first run that works clears them and picks up every order."""
    settings.KEELSON_SYNC_ALERT_AFTER_FAILURES = 5
    sandbox, control = unlimited, unlimited.control
    merchant = make_merchant()
    admin = make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="ops@seller.example")
    account = connect(merchant, sandbox, backfill_days=1)
    sync_until_caught_up(account)
    control.advance_clock(minutes=5)
    control.inject_fault("error_503", count=1000, share=1.0, operations=["getOrders"])

    outcomes = [run_sync(account).outcome for _ in range(7)]

    assert set(outcomes) == {"transient"}
    with tenant_context(merchant):
        account.refresh_from_db()
        assert account.status == AccountStatus.ACTIVE  # never turned off
        notes = list(Notification.objects.filter(title__contains="keeps failing"))
    assert len(notes) == 1
    assert "The last 5 sync runs" in notes[0].body and "loses nothing" in notes[0].body
    key = make_api_key(merchant=merchant, scopes=["orders:read"])
    (sync_status,) = call("get", "/api/v1/merchants/", key=key).json()["results"][0]["amazon_sync"]
    assert sync_status["consecutive_failures"] == 7
    assert sync_status["last_error"] and sync_status["next_sync_at"]
    assert sync_status["status"] == "active"
    portal = Client()
    portal.force_login(admin)
    (row,) = portal.get("/").context["amazon_sync"]
    assert (row["label"], row["failures"]) == ("Retrying", 7)
    assert "keeps trying" in row["detail"] and row["error"]

    control.clear_faults()
    assert sync_until_caught_up(account)[-1].outcome == "caught_up"
    assert state_of(account).failures == 0
    (sync_status,) = call("get", "/api/v1/merchants/", key=key).json()["results"][0]["amazon_sync"]
    assert (sync_status["consecutive_failures"], sync_status["last_error"]) == (0, "")


def test_a_backfill_through_search_orders_keeps_item_and_shipping_tax_apart_as_v0_does(
    unlimited, make_merchant
):
    """Found by bench/faults/outbox.py: searchOrders gave an item's tax as one TAX breakdown,
    which the sync keeps as item tax; a refund of the item then asked Amazon for the shipping's
    tax too, and Amazon refused it (18034). The item's TAX carries its detailed breakdowns."""
    sandbox, sid = unlimited, unlimited.seller["selling_partner_id"]
    sandbox.control.generate_orders(
        sid,
        40,
        seed="keelson-tax-split",
        marketplace_ids=["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2"],  # tax on top of the price
        **window(amazon_now(sandbox), days_ago=5, hours_ago=6),
    )
    account = connect(make_merchant(), sandbox)
    reports = sync_until_caught_up(account)
    assert sum(r.search_pages for r in reports) >= 1  # the backfill reads searchOrders
    problems, compared, _ = differences(account, emulated_orders(sid), taxes=True)
    assert problems == [] and compared >= 35
