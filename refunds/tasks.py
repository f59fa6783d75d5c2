"""django-q2 entry points of the refunds app: finding refunds made on Amazon outside Keelson
(R6). Thin: tenant context set, one service per order.

- ``check_external_refunds(merchant_id, order_ids)``: read each order's Finances events and
  record what was refunded in Seller Central. The order sync queues it for the orders whose
  Amazon status says they were charged (``schedule_check``), after its transaction commits.
- ``sweep_external_refunds()``: every few minutes, the charged Amazon orders that Amazon
  changed recently (a refund in Seller Central moves LastUpdateDate), in case the sync's
  hook was missed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from integrations.amazon.delivery import gateway_for_delivery
from integrations.amazon.gateway import AmazonError
from orders.models import AmazonOrderStatus, Channel, FulfillmentChannel, Order
from refunds import services
from tenants.models import AccountStatus
from tenants.scope import system_context, tenant_context

logger = logging.getLogger(__name__)

# Amazon has taken the buyer's money for (some of) these orders: only they can be refunded.
CHARGED_STATUSES = (
    AmazonOrderStatus.SHIPPED,
    AmazonOrderStatus.PARTIALLY_SHIPPED,
    AmazonOrderStatus.INVOICE_UNCONFIRMED,
)
SWEEP_WINDOW = timedelta(minutes=30)
MAX_ORDERS_PER_TASK = 200


def check_external_refunds(merchant_id: int, order_ids: list[int]) -> int:
    """Record the refunds Amazon made outside Keelson on these orders; returns how many."""
    found = 0
    with tenant_context(merchant_id):
        orders = (
            Order.objects.filter(pk__in=list(order_ids)[:MAX_ORDERS_PER_TASK])
            .select_related("amazon_account")
            .order_by("id")
        )
        for order in orders:
            account = order.amazon_account
            if account is None or account.status != AccountStatus.ACTIVE:
                continue
            try:
                events = gateway_for_delivery(account).financial_events_for_order(order.external_id)
            except AmazonError as exc:
                logger.warning("finances of %s not read: %s", order.external_id, exc)
                continue
            found += len(services.record_external_refunds(order.pk, events).recorded)
    return found


def schedule_check(merchant_id: int, order_ids: Iterable[int]) -> None:
    """After commit, check the charged ones of these orders (the sync's hook)."""
    with tenant_context(merchant_id):
        ids = list(
            Order.objects.filter(
                pk__in=list(order_ids),
                channel=Channel.AMAZON,
                fulfillment_channel=FulfillmentChannel.MFN,
                status__in=CHARGED_STATUSES,
            ).values_list("pk", flat=True)
        )
    if not ids:
        return

    def queue() -> None:
        from django_q.tasks import async_task

        for start in range(0, len(ids), MAX_ORDERS_PER_TASK):
            try:
                async_task(
                    "refunds.tasks.check_external_refunds",
                    merchant_id,
                    ids[start : start + MAX_ORDERS_PER_TASK],
                )
            except Exception:  # the broker being down must not fail the sync
                logger.exception("could not queue the refund check of merchant %s", merchant_id)

    transaction.on_commit(queue)


def sweep_external_refunds() -> int:
    """Queue a check of the charged Amazon orders changed lately, one task per merchant."""
    from django_q.tasks import async_task

    since = timezone.now() - SWEEP_WINDOW
    with system_context("refund sweep: Amazon orders changed lately"):
        rows = list(
            Order.objects.filter(
                channel=Channel.AMAZON,
                fulfillment_channel=FulfillmentChannel.MFN,
                status__in=CHARGED_STATUSES,
                source_updated_at__gte=since,
                amazon_account__status=AccountStatus.ACTIVE,
                merchant__is_active=True,
            )
            .order_by("merchant_id", "id")
            .values_list("merchant_id", "id")
        )
    by_merchant: dict[int, list[int]] = {}
    for merchant_id, order_id in rows:
        by_merchant.setdefault(merchant_id, []).append(order_id)
    for merchant_id, ids in by_merchant.items():
        for start in range(0, len(ids), MAX_ORDERS_PER_TASK):
            async_task(
                "refunds.tasks.check_external_refunds",
                merchant_id,
                ids[start : start + MAX_ORDERS_PER_TASK],
            )
    return len(by_merchant)
