"""django-q2 entry points of the orders app: thin, tenant context set, services called."""

from __future__ import annotations

import logging

from django.utils import timezone

from foundation import clock
from integrations.shopify.delivery import MIRRORED_STATUSES as MIRRORED_STORE_STATUSES
from notifications.services import sweep_digests_held
from notifications.tasks import send_digests
from orders import order_changes, selectors, services, shopify_mirror, sync, tax_splits
from tenants.models import AccountStatus, AmazonAccount, ShopifyStore
from tenants.scope import system_context, tenant_context

logger = logging.getLogger(__name__)


class SweepIncomplete(RuntimeError):
    pass


def sweep_deadlines(batch_size: int = services.BATCH_SIZE) -> dict:
    """Every minute (portal/schedules.py): the policy sweep.

    Finds the merchants with due orders (ids only, the one cross-tenant read), then runs the due
    steps per merchant under its own scope (``orders.services.sweep_merchant``), then e-mails
    each person one digest of what this run told them. Idempotent, and safe with several
    workers at once (``SKIP LOCKED``); its cost follows the number of due orders, not the table.
    """
    with sweep_digests_held():
        return _sweep_deadlines(batch_size)


def _sweep_deadlines(batch_size: int) -> dict:

    now = clock.now()  # Amazon's timelines: the emulator's clock with KEELSON_CLOCK=sandbox
    with system_context("policy sweep: find merchants with due orders"):
        merchant_ids = selectors.merchant_ids_with_due_orders(now)
    result: dict = {"merchants": len(merchant_ids), **dict.fromkeys(services.STEPS, 0)}
    email_user_ids: set[int] = set()
    failed = []
    for merchant_id in merchant_ids:
        try:
            with tenant_context(merchant_id):
                report = services.sweep_merchant(merchant_id, now=now, batch_size=batch_size)
        except Exception:
            logger.exception("policy sweep failed for merchant %s", merchant_id)
            failed.append(merchant_id)
            continue
        for step, count in report.counts.items():
            result[step] += count
        email_user_ids |= report.email_user_ids
    result["emailed"] = send_digests(sorted(email_user_ids)) if email_user_ids else 0
    if failed:
        # The next run retries them; failing the task makes the failure visible in the admin.
        raise SweepIncomplete(f"policy sweep failed for merchants {failed}; done: {result}")
    return result


def recompute_merchant_deadlines(merchant_id: int) -> int:
    """After a merchant's warning days or time zone changed: recompute its open orders."""
    with tenant_context(merchant_id):
        return services.recompute_open_orders()


# --- the Amazon order sync (orders/sync.py) ----------------------------------------------------

# The fan-out's claim covers the time a task may wait in the queue before a worker starts it.
QUEUED_LEASE_SECONDS = sync.QUEUED_LEASE_SECONDS
SYNC_TASK = sync.SYNC_TASK
MAX_FAN_OUT = 500


def sync_due_amazon_accounts() -> dict:
    """Every minute (portal/schedules.py): one sync task per Amazon account that is due.

    Reads the ids of active, due, unleased accounts (the one cross-tenant read), then claims
    each account's lease under its merchant's scope and queues its task, so an account waiting
    in the queue is not queued again, and two workers never sync one account at once.
    """
    from django.db.models import Q

    now = timezone.now()
    with system_context("amazon sync: find the accounts due"):
        due = list(
            AmazonAccount.objects.filter(
                status=AccountStatus.ACTIVE, merchant__is_active=True, next_sync_at__lte=now
            )
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
            .order_by("next_sync_at")
            .values_list("id", "merchant_id")[:MAX_FAN_OUT]
        )
    queued = []
    for account_id, merchant_id in due:
        # The lease for the queued task, and the task (shared with the portal's "Sync now").
        with tenant_context(merchant_id):
            if sync.queue_sync(account_id, merchant_id):
                queued.append(account_id)
    return {"due": len(due), "queued": queued}


def sync_amazon_account(account_id: int, merchant_id: int, lease_owner: str | None = None) -> dict:
    """One sync run of one account (the fan-out passes the lease it claimed for it)."""

    with tenant_context(merchant_id):
        return sync.sync_account(account_id, owner=lease_owner).as_dict()


def resolve_tax_split(merchant_id: int, order_id: int) -> dict:
    """Ask Amazon for the split of an order's tax between its items and their shipping, which
    searchOrders left unknown, because a refund waits for it (``orders.tax_splits``; queued by
    ``orders.services.request_tax_split``). Idempotent; retried if Amazon cannot answer now."""

    with tenant_context(merchant_id):
        return tax_splits.resolve_order(order_id)


def receive_amazon_order_changes() -> dict:
    """Every minute (portal/schedules.py): the push lane of the sync. Long-polls Amazon's
    ORDER_CHANGE notifications for about a minute and upserts each notified order
    (``orders.order_changes``); does nothing when no queue is configured."""

    return order_changes.receive().as_dict()


def reconcile_shopify_mirrors() -> dict:
    """Every 10 minutes (portal/schedules.py): for each merchant with a connected Shopify store,
    queue what the store lacks: Amazon orders, then the fulfillments and refunds the apps above
    register (``orders.shopify_mirror.reconcile_merchant``).
    The one cross-tenant read is the merchants' ids; the rest runs in each merchant's scope."""
    with system_context("shopify reconcile: merchants with a connected store"):
        merchant_ids = sorted(
            set(
                ShopifyStore.objects.filter(status__in=MIRRORED_STORE_STATUSES).values_list(
                    "merchant_id", flat=True
                )
            )
        )
    queued = {}
    for merchant_id in merchant_ids:
        with tenant_context(merchant_id):
            counts = shopify_mirror.reconcile_merchant(merchant_id)
        if counts:
            queued[merchant_id] = counts
    return {"merchants": len(merchant_ids), "queued": queued}
