"""The portal's "Sync now" and "Re-run backfill" on Amazon accounts (issue #3): services in
orders/sync.py on the scheduler's lease and task, thin admin actions, read-only roles refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone
from django_q.models import OrmQ

from orders import sync
from orders.models import AmazonSyncState
from orders.tasks import SYNC_TASK, sync_due_amazon_accounts
from tenants.models import AccountStatus, AmazonAccount, Role
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

CHANGELIST = "/tenants/amazonaccount/"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def shop(make_agency, make_merchant, make_user, make_amazon_account):
    agency = make_agency()
    merchant = make_merchant(agency=agency)
    account = make_amazon_account(
        merchant, name="US store", next_sync_at=timezone.now() + timedelta(minutes=4)
    )
    return {
        "merchant": merchant,
        "account": account,
        "admin": make_user(role=Role.MERCHANT_ADMIN, merchant=merchant),
        "staff": make_user(role=Role.MERCHANT_STAFF, merchant=merchant),
        "viewer": make_user(role=Role.MERCHANT_VIEWER, merchant=merchant),
    }


def queued() -> list[tuple]:
    """(account id, merchant id, lease owner) of the sync tasks in the ORM broker's queue."""
    return sorted(
        tuple(row.task["args"]) for row in OrmQ.objects.all() if row.task["func"] == SYNC_TASK
    )


def fresh(account: AmazonAccount) -> AmazonAccount:
    with tenant_context(account.merchant_id):
        return AmazonAccount.objects.get(pk=account.pk)


def state(account: AmazonAccount) -> AmazonSyncState:
    with tenant_context(account.merchant_id):
        return AmazonSyncState.objects.get(account=account)


def has_backfill(account: AmazonAccount) -> bool:
    with tenant_context(account.merchant_id):
        found = AmazonSyncState.objects.filter(account_id=account.pk).first()
    return found is not None and found.backfilling


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def run_action(client: Client, action: str, account: AmazonAccount, **extra):
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [account.pk], **extra}, follow=True
    )


def texts(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- services ---------------------------------------------------------------------------------


def test_sync_now_makes_the_account_due_and_queues_it_under_its_lease(shop):
    account = shop["account"]
    with tenant_context(shop["merchant"]):
        result = sync.sync_now(account)

    assert result.outcome == "queued"
    held = fresh(account)
    assert held.next_sync_at <= timezone.now()
    assert held.lease_owner and held.lease_until > timezone.now()
    assert queued() == [(account.pk, shop["merchant"].pk, held.lease_owner)]

    # Again: the queued run holds the account, nothing is doubled.
    with tenant_context(shop["merchant"]):
        assert sync.sync_now(account).outcome == "running"
    assert len(queued()) == 1


def test_sync_now_refuses_an_account_that_cannot_sync(shop, make_amazon_account):
    failed = make_amazon_account(
        shop["merchant"], name="EU store", status=AccountStatus.AUTH_FAILED
    )
    with tenant_context(shop["merchant"]), pytest.raises(sync.SyncNotPossible) as refused:
        sync.sync_now(failed)
    assert "reconnect" in str(refused.value)
    shop["merchant"].is_active = False
    shop["merchant"].save(update_fields=["is_active"])
    with tenant_context(shop["merchant"]), pytest.raises(sync.SyncNotPossible) as refused:
        sync.sync_now(shop["account"])
    assert "deactivated" in str(refused.value)
    assert queued() == []


@pytest.mark.django_db(transaction=True)  # the fan-out reads through the owner connection
def test_the_fan_out_and_sync_now_share_the_lease_and_the_task(shop, make_amazon_account):
    account = shop["account"]
    due = make_amazon_account(shop["merchant"], name="EU store", next_sync_at=timezone.now())
    with tenant_context(shop["merchant"]):
        assert sync.sync_now(account).outcome == "queued"

    fan_out = sync_due_amazon_accounts()

    assert fan_out["queued"] == [due.pk], "the account queued by Sync now is not queued again"
    assert [row[0] for row in queued()] == sorted([account.pk, due.pk])
    assert {row[2] for row in queued()} == {fresh(account).lease_owner, fresh(due).lease_owner}


def test_rerun_backfill_restarts_the_backfill_and_keeps_the_live_cursor(shop):
    account = shop["account"]
    cursor = timezone.now() - timedelta(minutes=7)
    with tenant_context(shop["merchant"]):
        AmazonAccount.objects.filter(pk=account.pk).update(sync_cursor=cursor)
        AmazonSyncState.objects.create(
            merchant=shop["merchant"],
            account=account,
            backfill_days=30,
            backfill_from=timezone.now() - timedelta(days=40),
            backfill_to=timezone.now() - timedelta(days=10),
            backfill_position=timezone.now() - timedelta(days=10),
            backfill_pages=50,
            backfill_orders=4800,
            backfill_started_at=timezone.now() - timedelta(days=10),
            backfill_finished_at=timezone.now() - timedelta(days=10),
        )
        sync.rerun_backfill(fresh(account), 7)

    restarted = state(account)
    assert restarted.backfilling and restarted.backfill_days == 7
    assert abs(restarted.backfill_from - (timezone.now() - timedelta(days=7))) < timedelta(
        minutes=1
    )
    assert (restarted.backfill_pages, restarted.backfill_orders) == (0, 0)
    assert restarted.backfill_token == "" and restarted.backfill_to is None
    held = fresh(account)
    assert held.sync_cursor == cursor, "the live lane carries on where it was"
    assert held.next_sync_at <= timezone.now()
    assert queued() == [(account.pk, shop["merchant"].pk, held.lease_owner)]


def test_rerun_backfill_defaults_to_the_setting_and_checks_its_input(shop, settings):
    settings.KEELSON_SYNC_BACKFILL_DAYS = 12
    account = shop["account"]
    with tenant_context(shop["merchant"]):
        for days in (0, -1, sync.MAX_BACKFILL_DAYS + 1):
            with pytest.raises(sync.SyncNotPossible):
                sync.rerun_backfill(account, days)
        sync.rerun_backfill(account)
    assert state(account).backfill_days == 12


def test_rerun_backfill_waits_while_another_worker_syncs_the_account(shop):
    account = shop["account"]
    with tenant_context(shop["merchant"]):
        assert sync.claim_lease(account.pk, "a running worker")
        with pytest.raises(sync.SyncNotPossible) as refused:
            sync.rerun_backfill(account, 5)
    assert "syncing right now" in str(refused.value)
    assert fresh(account).lease_owner == "a running worker"
    assert not has_backfill(account)
    assert queued() == []


# --- the portal's actions ---------------------------------------------------------------------


def test_sync_now_action_queues_and_tells_the_merchant(shop):
    response = run_action(login(shop["staff"]), "sync_now", shop["account"])

    assert response.status_code == 200
    assert texts(response) == [
        "US store: sync started. New and changed orders appear within a minute or two."
    ]
    assert [row[0] for row in queued()] == [shop["account"].pk]


def test_rerun_backfill_action_asks_for_the_days_then_restarts(shop, settings):
    settings.KEELSON_SYNC_BACKFILL_DAYS = 30
    client = login(shop["admin"])

    form = client.post(
        CHANGELIST, {"action": "rerun_backfill", "_selected_action": [shop["account"].pk]}
    )
    assert form.status_code == 200
    assert 'name="days"' in form.content.decode() and 'value="30"' in form.content.decode()
    assert queued() == []

    done = run_action(client, "rerun_backfill", shop["account"], apply="yes", days="10")
    assert "re-reading the orders Amazon changed in the last 10 days" in texts(done)[0]
    assert state(shop["account"]).backfill_days == 10
    assert len(queued()) == 1


def test_the_viewer_role_cannot_sync_or_backfill(shop):
    client = login(shop["viewer"])
    listing = client.get(CHANGELIST)
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "sync_now" not in page and "rerun_backfill" not in page

    for action, extra in (("sync_now", {}), ("rerun_backfill", {"apply": "yes", "days": "5"})):
        run_action(client, action, shop["account"], **extra)
    assert queued() == []
    held = fresh(shop["account"])
    assert held.lease_owner == "" and held.next_sync_at > timezone.now()
    assert not has_backfill(shop["account"])


def test_actions_never_reach_another_tenants_account(shop, make_merchant, make_amazon_account):
    theirs = make_amazon_account(make_merchant(), name="Their store")
    client = login(shop["admin"])

    run_action(client, "sync_now", theirs)
    run_action(client, "rerun_backfill", theirs, apply="yes", days="5")

    assert queued() == []
    assert fresh(theirs).lease_owner == ""
