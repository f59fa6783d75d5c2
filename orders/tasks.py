"""django-q2 entry points of the orders app: thin, tenant context set, services called."""

from __future__ import annotations

import logging

from django.utils import timezone

from orders import selectors, services
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
    from notifications.tasks import send_digests

    now = timezone.now()
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
