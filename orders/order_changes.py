"""The push lane of the Amazon order sync: Amazon's ORDER_CHANGE notifications (rule R1).

Polling alone cannot show an order sooner than two minutes after it changed: Amazon's
getOrders and searchOrders list only changes at least two minutes old. Amazon pushes instead:
each seller's ORDER_CHANGE subscription delivers a notification to our SQS queue within
seconds of every change (a new order, a status change, a buyer's cancellation request), and
getOrder/getOrderItems fetch that one order at once. Polling (``orders/sync.py``) stays the
safety net: a notification lost, late or never sent is caught by the next poll, and both lanes
write through the same idempotent, newer-wins upsert, serialised per account by its row lock.

- **Subscribing**: connecting an account (``connect_amazon_account``), or
  ``manage.py subscribe_amazon_notifications`` for accounts connected before the queue was
  configured, writes an outbox message; its handler (``orders/outbox_handlers.py``) makes sure
  the application's destination for the queue exists and the seller's subscription points at it.
- **Receiving**: ``orders.tasks.receive_amazon_order_changes`` runs every minute and long-polls
  the queue for ``KEELSON_AMAZON_NOTIFICATIONS_RUN_SECONDS`` (55), at most
  ``KEELSON_AMAZON_NOTIFICATIONS_RECEIVERS`` (1) at a time (SQS shares the messages out among
  several; more help when one cannot keep up). Per batch: notifications
  grouped by seller, each seller's accounts looked up (the one cross-tenant read), the orders
  fetched and upserted under the merchant's scope, then the messages deleted. A message whose
  order could not be fetched (throttled, Amazon unavailable) is left in the queue: SQS delivers
  it again after its visibility timeout. A malformed message, or one for a seller we do not
  sync, is deleted (and logged): it would never succeed.
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from foundation import worker_stop
from integrations.amazon.gateway import AmazonAuthFailed, AmazonError, AmazonPermanentError
from integrations.amazon.queue import NotificationQueue, QueueMessage, configured_queue_url
from integrations.outbox.services import enqueue
from orders.amazon_reads import sync_gateway, with_items
from orders.models import AmazonSyncState
from orders.services import UpsertResult, after_amazon_upsert, upsert_amazon_orders
from tenants.db import session_alias
from tenants.models import AccountStatus, AmazonAccount
from tenants.scope import system_context, tenant_context

logger = logging.getLogger(__name__)

ORDER_CHANGE = "ORDER_CHANGE"
SUBSCRIBE_KIND = "amazon.subscribe_order_changes"
DESTINATION_NAME = "keelson-order-changes"


# PostgreSQL advisory lock keys of the receivers (one per concurrent receiver allowed).
RECEIVER_LOCK = 0x4B45454C  # "KEEL"


# One long poll waits at most this long (SQS allows 20): between polls the run checks whether
# its cluster is stopping, so a SIGTERM ends it within seconds (foundation.worker_stop).
POLL_SLICE_SECONDS = 5


def run_seconds() -> float:
    return float(getattr(settings, "KEELSON_AMAZON_NOTIFICATIONS_RUN_SECONDS", 55))


def receivers() -> int:
    return max(1, int(getattr(settings, "KEELSON_AMAZON_NOTIFICATIONS_RECEIVERS", 1)))


@contextmanager
def receiver_slot() -> Iterator[int | None]:
    """One of ``KEELSON_AMAZON_NOTIFICATIONS_RECEIVERS`` slots, or None when all are taken:
    a schedule that fires while the previous run still long-polls (or a catch-up after
    downtime) then ends at once instead of holding a second worker. A session-level advisory
    lock: a worker that dies frees its slot with its connection."""
    slot = None
    connection = connections[session_alias()]
    with connection.cursor() as cursor:
        for index in range(receivers()):
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [RECEIVER_LOCK, index])
            if cursor.fetchone()[0]:
                slot = index
                break
    try:
        yield slot
    finally:
        if slot is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [RECEIVER_LOCK, slot])


# --- subscribing -----------------------------------------------------------------------------


def request_subscription(account: AmazonAccount) -> bool:
    """Ask, through the outbox, for the account's ORDER_CHANGE notifications to reach our queue.

    Runs in the caller's transaction (connecting the account). Once per connection: a retried
    connect writes nothing new; reconnecting (new credentials) subscribes again. Returns False
    when no queue is configured (the sync then polls only)."""
    queue_url = configured_queue_url()
    if not queue_url:
        return False
    enqueue(
        merchant_id=account.merchant_id,
        kind=SUBSCRIBE_KIND,
        payload={"account": account.pk, "queue_url": queue_url},
        idempotency_key=f"{SUBSCRIBE_KIND}:{account.pk}:{account.connected_at.isoformat()}",
    )
    return True


def record_subscription(account_id: int, subscription_id: str, queue_arn: str) -> None:
    """The outbox handler's success: the account's push lane is on."""
    AmazonSyncState.objects.filter(account_id=account_id).update(
        order_change_subscription_id=subscription_id,
        order_change_queue_arn=queue_arn,
        order_change_subscribed_at=timezone.now(),
    )


# --- receiving -------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderChange:
    seller_id: str
    amazon_order_id: str
    change_type: str


def parse_order_change(body: str) -> OrderChange | None:
    """The seller and order of an ORDER_CHANGE notification; None when it is not one."""
    try:
        data = json.loads(body)
        if data.get("NotificationType") != ORDER_CHANGE:
            return None
        change = data["Payload"]["OrderChangeNotification"]
        seller_id, order_id = change["SellerId"], change["AmazonOrderId"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not isinstance(seller_id, str) or not isinstance(order_id, str) or not order_id:
        return None
    return OrderChange(seller_id, order_id, str(change.get("OrderChangeType", "")))


@dataclass
class ReceiveReport:
    messages: int = 0
    orders: int = 0
    created: int = 0
    updated: int = 0
    dropped: int = 0  # malformed, or for no account we sync
    retried: int = 0  # left in the queue for SQS to deliver again
    batches: int = 0
    busy: bool = False  # every receiver slot was taken: this run did nothing
    stopped_early: bool = False  # the cluster was stopping (foundation.worker_stop)
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {**self.__dict__, "errors": self.errors[:10]}


def receive(queue_url: str | None = None, *, seconds: float | None = None) -> ReceiveReport:
    """Long-poll the queue for ``seconds`` and apply every ORDER_CHANGE that arrives."""
    report = ReceiveReport()
    queue_url = queue_url or configured_queue_url()
    if not queue_url:
        return report
    with receiver_slot() as slot:
        if slot is None:
            report.busy = True
            return report
        _receive(queue_url, seconds, report)
    return report


def _receive(queue_url: str, seconds: float | None, report: ReceiveReport) -> None:
    queue = NotificationQueue(queue_url)
    deadline = time.monotonic() + (run_seconds() if seconds is None else seconds)
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            if worker_stop.stop_requested():
                report.stopped_early = True
                break  # the cluster is stopping: the next run picks up where this one ends
            try:
                messages = queue.receive(
                    wait_seconds=int(min(POLL_SLICE_SECONDS, max(0, remaining)))
                )
            except AmazonError as exc:
                report.errors.append(exc.message)
                logger.warning("amazon notifications: %s", exc.message)
                worker_stop.wait(min(5.0, max(0.0, deadline - time.monotonic())))
                continue
            if not messages:
                continue
            report.batches += 1
            done = handle_messages(messages, report)
            if done:
                try:
                    queue.delete(done)
                except AmazonError as exc:
                    report.errors.append(exc.message)
            if remaining < 1:
                break
    finally:
        queue.close()


def handle_messages(messages: list[QueueMessage], report: ReceiveReport) -> list[QueueMessage]:
    """Apply a batch; returns the messages that are done with (to delete)."""
    report.messages += len(messages)
    done: list[QueueMessage] = []
    by_seller: dict[str, dict[str, list[QueueMessage]]] = defaultdict(lambda: defaultdict(list))
    for message in messages:
        change = parse_order_change(message.body)
        if change is None:
            logger.warning("amazon notifications: dropped a message that is no ORDER_CHANGE")
            report.dropped += 1
            done.append(message)
            continue
        by_seller[change.seller_id][change.amazon_order_id].append(message)
    if not by_seller:
        return done
    with system_context("amazon notifications: the accounts of the notified sellers"):
        accounts = list(
            AmazonAccount.objects.filter(
                selling_partner_id__in=list(by_seller),
                status=AccountStatus.ACTIVE,
                merchant__is_active=True,
            ).values_list("id", "merchant_id", "selling_partner_id")
        )
    accounts_of: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for account_id, merchant_id, seller_id in accounts:
        accounts_of[seller_id].append((account_id, merchant_id))
    for seller_id, orders in by_seller.items():
        seller_messages = [m for ms in orders.values() for m in ms]
        if not accounts_of.get(seller_id):
            logger.info("amazon notifications: no active account for seller %s", seller_id)
            report.dropped += len(seller_messages)
            done.extend(seller_messages)
            continue
        ok = True
        for account_id, merchant_id in accounts_of[seller_id]:
            with tenant_context(merchant_id):
                ok &= apply_order_changes(account_id, sorted(orders), report)
        if ok:
            done.extend(seller_messages)
        else:
            report.retried += len(seller_messages)
    return done


def apply_order_changes(
    account_id: int, amazon_order_ids: list[str], report: ReceiveReport
) -> bool:
    """Fetch the notified orders of one account and upsert them (inside its merchant's scope).

    Returns False when Amazon could not be read now (the notifications are then delivered
    again); an order Amazon does not know (any more) is skipped."""

    account = AmazonAccount.objects.select_related("merchant").filter(pk=account_id).first()
    if account is None:
        return True
    gateway = sync_gateway(account)
    records = []
    try:
        for amazon_order_id in amazon_order_ids:
            try:
                order = gateway.get_order(amazon_order_id)
            except AmazonPermanentError as exc:
                if exc.status == 404:
                    continue
                raise
            records.append(with_items(order, gateway.get_order_items(amazon_order_id)))
    except (AmazonAuthFailed, AmazonPermanentError) as exc:
        # Would fail again: the poll lane marks a refused authorisation and tells the merchant.
        report.errors.append(f"account {account_id}: {exc.message}")
        return True
    except AmazonError as exc:  # throttled, or Amazon unavailable: SQS delivers it again
        report.errors.append(f"account {account_id}: {exc.message}")
        return False
    with transaction.atomic():
        # The poll lane commits its pages under the same lock: one upsert at a time per
        # account, so each sees what the other wrote (no doubled timeline events).
        AmazonAccount.objects.select_for_update().only("id").get(pk=account.pk)
        result = UpsertResult()
        if records:
            result = upsert_amazon_orders(
                account=account, records=records, default_currency=account.merchant.default_currency
            )
            after_amazon_upsert(account.merchant, result)
        now = timezone.now()
        fields: dict = {
            "notifications_received": F("notifications_received") + len(amazon_order_ids),
            "last_notification_at": now,
        }
        if result.created or result.updated:
            fields["last_change_at"] = now
        AmazonSyncState.objects.filter(account_id=account.pk).update(**fields)
    report.orders += len(records)
    report.created += result.created
    report.updated += result.updated
    return True
