"""The sync on its schedule: the fan-out queues one task per due account under a lease, and a
real django-q2 cluster brings an order placed on Amazon into the partner API by itself (R1)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone
from django_q.models import OrmQ, Schedule

from orders import amazon_reads, sync
from orders.models import Order
from orders.tasks import SYNC_TASK, sync_due_amazon_accounts
from portal.schedules import SCHEDULES, ensure_schedules
from sandbox.amazon.testing import running_amazon_sandbox
from tenants.models import AccountStatus, AmazonAccount
from tenants.scope import tenant_context
from tests.support.amazon_sync import amazon_now, connect, run_sync, state_of, window
from tests.support.processes import qcluster

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FAN_OUT = "orders.tasks.sync_due_amazon_accounts"


def queued_accounts() -> list[int]:
    """Account ids of the sync tasks waiting in the ORM broker's queue."""
    out = []
    for row in OrmQ.objects.all():
        task = row.task
        if task["func"] == SYNC_TASK:
            out.append(task["args"][0])
    return sorted(out)


def test_the_fan_out_queues_each_due_account_once_under_its_lease(
    make_merchant, make_amazon_account
):
    assert {p.func: p.minutes for p in SCHEDULES}[FAN_OUT] == 1
    a, b, c = make_merchant(), make_merchant(), make_merchant()
    due = make_amazon_account(a)
    also_due = make_amazon_account(b)
    later = make_amazon_account(c, next_sync_at=timezone.now() + timedelta(minutes=5))
    paused = make_amazon_account(c, status=AccountStatus.PAUSED)
    busy = make_amazon_account(a)
    with tenant_context(a):
        assert sync.claim_lease(busy.pk, "another worker")

    first = sync_due_amazon_accounts()
    again = sync_due_amazon_accounts()

    assert sorted(first["queued"]) == sorted([due.pk, also_due.pk])
    assert again["queued"] == []  # their leases are held until their tasks run
    assert queued_accounts() == sorted([due.pk, also_due.pk])
    assert later.pk not in first["queued"] and paused.pk not in first["queued"]
    with tenant_context(a):
        owner = AmazonAccount.objects.get(pk=due.pk).lease_owner
    [task] = [r.task for r in OrmQ.objects.all() if r.task["args"][0] == due.pk]
    assert task["args"] == (due.pk, a.pk, owner)  # the task adopts the fan-out's lease


def test_a_worker_whose_lease_ran_out_writes_nothing(make_merchant, settings):
    """Two holders at once cannot both write: each page is committed under a lock of the
    account row that checks the lease is still ours."""
    settings.KEELSON_AMAZON_RATE_LIMITS = False
    settings.KEELSON_SYNC_MAX_WAIT = 0.2
    settings.KEELSON_SYNC_LEASE_SECONDS = 1
    with running_amazon_sandbox(rate_limits=False) as sandbox:
        sid = sandbox.seller["selling_partner_id"]
        sandbox.control.generate_orders(
            sid, 50, seed="keelson-lease", **window(amazon_now(sandbox), days_ago=2, hours_ago=6)
        )
        merchant = make_merchant()
        account = connect(merchant, sandbox)
        # Amazon answers slower than the lease lasts.
        sandbox.control.inject_fault("latency", latency_ms=2500, count=1)
        reports = []

        def slow_worker() -> None:
            try:
                reports.append(run_sync(account))
            finally:
                connections.close_all()

        worker = threading.Thread(target=slow_worker)
        worker.start()
        deadline = time.monotonic() + 10
        with tenant_context(merchant):
            accounts = AmazonAccount.objects.filter(pk=account.pk)
            while not accounts.exclude(lease_owner="").exists():  # the worker has its lease
                assert time.monotonic() < deadline
                time.sleep(0.01)
            while not sync.claim_lease(account.pk, "the next worker", seconds=60):
                assert time.monotonic() < deadline
                time.sleep(0.05)
        worker.join(30)

    assert [r.outcome for r in reports] == ["lease_lost"]
    with tenant_context(merchant):
        assert not Order.objects.exists()
        assert AmazonAccount.objects.get(pk=account.pk).lease_owner == "the next worker"
    assert state_of(account).backfill_pages == 0


def lease_owner(merchant, account) -> str:
    with tenant_context(merchant):
        return AmazonAccount.objects.get(pk=account.pk).lease_owner


@pytest.mark.slow
def test_an_order_placed_on_amazon_shows_in_the_api_with_no_one_calling_the_sync(
    make_merchant, make_api_key, call
):
    merchant = make_merchant()
    key = make_api_key(merchant=merchant, scopes=["orders:read"])
    with running_amazon_sandbox() as sandbox:  # Amazon's rate limits on
        sid = sandbox.seller["selling_partner_id"]
        account = connect(merchant, sandbox, backfill_days=1)
        placed = sandbox.control.place_order(sid, items=[{"quantity": 3}])["amazon_order_id"]
        sandbox.control.advance_clock(minutes=3)  # Amazon lists changes 2 minutes old
        ensure_schedules()  # the test database was flushed: register them as `migrate` does
        assert Schedule.objects.filter(func=FAN_OUT).exists()

        def listed() -> list[str]:
            response = call("get", "/api/v1/orders/", key=key)
            assert response.status_code == 200
            return [o["order_number"] for o in response.json()["results"]]

        def run_ended() -> bool:
            # The order shows once its page commits; the run lets go of the account's lease
            # when it ends, a moment later (later still on a loaded machine). Stopping the
            # cluster in between would leave the lease to expire, as after a killed worker.
            with tenant_context(merchant):
                return AmazonAccount.objects.get(pk=account.pk).lease_owner == ""

        assert listed() == []
        with qcluster() as proc:
            deadline = time.monotonic() + 150
            while placed not in listed() or not run_ended():
                assert proc.poll() is None, f"qcluster died, see {proc}"
                assert time.monotonic() < deadline, (
                    "the order did not arrive, or its run did not end"
                )
                time.sleep(1)
            # The order is committed page by page; the run then finishes and gives its lease
            # back. Stopping the cluster before that would cut the run short, not test it.
            while lease_owner(merchant, account):
                assert proc.poll() is None, f"qcluster died, see {proc}"
                assert time.monotonic() < deadline, "the run never gave its lease back"
                time.sleep(0.5)

    with tenant_context(merchant):
        order = Order.objects.get(external_id=placed)
        assert order.amazon_account_id == account.pk
        assert order.lines.get().quantity_ordered == 3
        assert AmazonAccount.objects.get(pk=account.pk).lease_owner == ""
    assert state_of(account).last_outcome in ("caught_up", "throttled")


def test_a_sync_run_ends_well_inside_django_q_timeout_and_retry(settings):
    """django-q2 hands a task still running after `retry` seconds out again, and kills it after
    `timeout`: a run's budget plus its worst single step must stay below both."""
    account = AmazonAccount(selling_partner_id="A1", region="NA", lwa_refresh_token="-")
    gateway = amazon_reads.sync_gateway(account)
    worst_call = gateway.max_attempts * (gateway.timeout + gateway.max_wait)
    worst_items_overrun = 30  # a v0 page stops fetching items 30 s past the budget
    worst_run = sync.run_seconds() + worst_items_overrun + worst_call
    assert worst_run < settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
    # Each page renews the lease; the longest page ends by the budget plus the overrun.
    assert sync.lease_seconds() > sync.run_seconds() + worst_items_overrun
