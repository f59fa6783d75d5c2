"""Write use cases of the orders app: the Amazon upsert, the split of a line's tax, the stored
policy deadlines, and the policy sweep."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import NamedTuple

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from foundation import clock
from foundation.text import N_, Text, When
from integrations.amazon.marketplaces import marketplace
from integrations.amazon.records import AmazonOrder, AmazonOrderItem, Money
from notifications.models import NotificationKind
from notifications.services import NewNotification, notify_merchant_many
from orders import announcements, bulk, errors, policy, selectors
from orders.models import (
    ActorType,
    AmazonOrderStatus,
    Channel,
    EventKind,
    FinancialStatus,
    FulfillmentStatus,
    Order,
    OrderEvent,
    OrderLine,
    ShipmentConfirmation,
)
from tenants.models import AmazonAccount, Merchant

logger = logging.getLogger(__name__)

# Fields the sync owns: an upsert overwrites these and nothing else (fulfillment and financial
# state are ours).
SYNCED_ORDER_FIELDS = [
    "amazon_account",
    "marketplace_id",
    "sales_channel",
    "status",
    "fulfillment_channel",
    "order_type",
    "ship_service_level",
    "is_prime",
    "is_business_order",
    "is_premium_order",
    "purchase_date",
    "source_updated_at",
    "earliest_ship_date",
    "latest_ship_date",
    "earliest_delivery_date",
    "latest_delivery_date",
    "currency",
    "total_amount",
    "buyer_name",
    "buyer_email",
    "buyer_cancel_requested",
    "buyer_cancel_reason",
    "buyer_cancel_requested_at",
    "shipping_address",
    "updated_at",
]
SYNCED_LINE_FIELDS = [
    "sku",
    "asin",
    "title",
    "quantity_ordered",
    "quantity_shipped",
    "item_price",
    "item_tax",
    "shipping_price",
    "shipping_tax",
    "promotion_discount",
    "buyer_cancel_requested",
    "buyer_cancel_reason",
    # What the sync knows of the split of the line's tax (orders/tax_splits.py); a line Amazon
    # changed is asked about again at once.
    "tax_split_pending",
    "tax_split_asked_at",
]
# Stored policy deadlines the upsert writes with the synced fields (orders.policy.deadlines of
# the order as written; no clock involved), and the sweep's flags it leaves alone.
UPSERTED_DEADLINE_FIELDS = ("ship_by", "confirm_by", "warn_at", "verify_by")
SWEEP_FLAGS = ("is_late", "auto_cancel_expected", "pending_too_long")


# Amazon has not taken the buyer's payment yet (A1, A2).
UNPAID_STATUSES = (
    AmazonOrderStatus.PENDING,
    AmazonOrderStatus.PENDING_AVAILABILITY,
    AmazonOrderStatus.CANCELED,
)


@dataclass
class UpsertResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    events: int = 0
    # Orders created or changed: the caller recomputes their deadlines, notifies, etc.
    changed_order_ids: list[int] = field(default_factory=list)
    new_order_ids: list[int] = field(default_factory=list)
    newly_cancelled_order_ids: list[int] = field(default_factory=list)
    newly_shipped_order_ids: list[int] = field(default_factory=list)
    new_buyer_cancel_order_ids: list[int] = field(default_factory=list)
    # Updated orders carrying a sweep flag (late, auto-cancel expected, pending too long): whether
    # it still holds depends on the clock, so after_amazon_upsert recomputes them.
    flagged_order_ids: list[int] = field(default_factory=list)


def _amount(money: Money | None) -> Decimal:
    return money.amount if money is not None else Decimal("0")


def _order_total(record: AmazonOrder) -> Decimal:
    """OrderTotal when Amazon gives it; else the items' charges (Pending orders lack it)."""
    if record.order_total is not None:
        return record.order_total.amount
    return sum(
        (
            _amount(i.item_price)
            + _amount(i.item_tax)
            + _amount(i.shipping_price)
            + _amount(i.shipping_tax)
            - _amount(i.promotion_discount)
            for i in record.items or ()
        ),
        Decimal("0"),
    )


def _currency(record: AmazonOrder, fallback: str) -> str:
    if record.order_total is not None:
        return record.order_total.currency
    for item in record.items or ():
        if item.item_price is not None:
            return item.item_price.currency
    known = marketplace(record.marketplace_id)
    return known.currency if known else fallback


class _Stored(NamedTuple):
    """What the upsert reads of an order it holds (``_locked_orders``)."""

    pk: int
    status: str
    source_updated_at: datetime
    buyer_cancel_requested: bool
    buyer_cancel_reason: str
    buyer_cancel_requested_at: datetime | None
    # Inputs of the policy that are ours, not Amazon's, and the sweep's flags.
    fulfillment_status: str
    shipment_confirmation: str
    warned_at: datetime | None
    is_late: bool
    auto_cancel_expected: bool
    pending_too_long: bool


@cache
def _locked_orders_sql() -> str:
    columns = ", ".join(
        Order._meta.get_field("id" if name == "pk" else name).column for name in _Stored._fields
    )
    return (
        f"SELECT external_id, {columns} FROM {Order._meta.db_table} "
        "WHERE merchant_id = %(merchant)s AND channel = %(channel)s "
        "AND external_id = ANY(%(ids)s::varchar[]) FOR UPDATE"
    )


def _locked_orders(merchant_id: int, amazon_order_ids: list[str]) -> dict[str, _Stored]:
    """The merchant's Amazon orders of these ids that we hold, locked (``FOR UPDATE``), by id.
    The ids go as one array (``= ANY``), not as a hundred values of an ``IN`` list."""
    with bulk.bound_cursor(Order) as cursor:
        cursor.execute(
            _locked_orders_sql(),
            {"merchant": merchant_id, "channel": Channel.AMAZON.value, "ids": amazon_order_ids},
        )
        return {row[0]: _Stored(*row[1:]) for row in cursor.fetchall()}


def _latest_per_order(records: Sequence[AmazonOrder]) -> dict[str, AmazonOrder]:
    latest: dict[str, AmazonOrder] = {}
    for record in records:
        seen = latest.get(record.amazon_order_id)
        if seen is None or record.last_update_date >= seen.last_update_date:
            latest[record.amazon_order_id] = record
    return latest


# No savepoint inside the caller's transaction (two round trips a page): if the upsert fails,
# the caller's transaction fails with it (the sync's page, the notification lane's batch).
@transaction.atomic(savepoint=False)
def upsert_amazon_orders(
    *, account: AmazonAccount, records: Sequence[AmazonOrder], default_currency: str = "USD"
) -> UpsertResult:
    """Insert or update orders (and their lines) as Amazon reports them, in bulk.

    Idempotent: a record no newer than what we hold changes nothing, so re-running any window
    writes nothing. Every status change and every new buyer cancellation request (rule B1)
    becomes one timeline event. Orders for SKUs we never listed are imported too (R1); AFN
    orders are imported and stay read-only (R5). Run inside `tenant_context(account.merchant)`.

    The stored policy deadlines (ship-by, confirmation, warning, verification) of every order
    written are computed here (``orders.policy.deadlines``, with its lines as they are after the
    upsert) and written in the same statement; clearing the sweep's flags depends on the clock,
    so orders that carry one are left to ``recompute_deadlines`` (``after_amazon_upsert``).
    """
    result = UpsertResult()
    latest = _latest_per_order(records)
    if not latest:
        return result
    merchant_id = account.merchant_id
    existing = _locked_orders(merchant_id, list(latest))

    incoming: dict[str, AmazonOrder] = {}
    for order_id, record in latest.items():
        old = existing.get(order_id)
        if old is not None and record.last_update_date <= old.source_updated_at:
            result.unchanged += 1
            continue
        incoming[order_id] = record
    if not incoming:
        return result

    quantities = _quantities_after_upsert(incoming, existing)
    rules = selectors.marketplace_rules(r.marketplace_id for r in incoming.values())
    merchant = Merchant.objects.only("id", "deadline_warning_days", "time_zone").get(pk=merchant_id)
    rows = []
    lines = []
    events: list[tuple] = []
    new_cancel_requests: set[str] = set()
    for order_id, record in incoming.items():
        old = existing.get(order_id)
        row, (cancel_requested, cancel_reason) = _order_row(
            account, record, old, default_currency, quantities[order_id], rules, merchant
        )
        rows.append(row)
        # Lines and events name their order by its Amazon id (bulk.write_linked puts the
        # order's primary key in its place).
        for item in record.items or ():
            lines.append(
                (
                    merchant_id,
                    order_id,
                    item.order_item_id,
                    item.sku,
                    item.asin,
                    item.title,
                    item.quantity_ordered,
                    item.quantity_shipped,
                    _amount(item.item_price),
                    _amount(item.item_tax),
                    _amount(item.shipping_price),
                    _amount(item.shipping_tax),
                    _amount(item.promotion_discount),
                    item.buyer_cancel_requested,
                    item.buyer_cancel_reason,
                    not item.tax_split_known,
                    None,
                )
            )
        status = record.status
        if old is None:
            events.append(
                _event_row(
                    merchant_id,
                    order_id,
                    EventKind.IMPORTED,
                    N_("Imported from Amazon (%(status)s).", status=status),
                    {"status": status},
                )
            )
        elif old.status != status:
            events.append(
                _event_row(
                    merchant_id,
                    order_id,
                    EventKind.STATUS_CHANGED,
                    N_(
                        "Amazon status changed from %(status)s to %(status2)s.",
                        status=old.status,
                        status2=status,
                    ),
                    {"from": old.status, "to": status},
                )
            )
        if cancel_requested and not (old and old.buyer_cancel_requested):
            new_cancel_requests.add(order_id)
            reason = cancel_reason or "no reason given"
            events.append(
                _event_row(
                    merchant_id,
                    order_id,
                    EventKind.BUYER_CANCEL_REQUESTED,
                    N_("The buyer asked Amazon to cancel this order (%(reason)s).", reason=reason),
                    {"reason": cancel_reason},
                )
            )

    if any(row[_PENDING] for row in lines):
        lines = _keep_known_tax_splits(lines, existing)

    # Orders, their lines and their timeline events in one INSERT ... ON CONFLICT statement
    # (orders/bulk.py: one round trip, plain rows instead of model instances).
    pk_of = bulk.write_linked(
        bulk.Rows(
            Order,
            ORDER_ROW_FIELDS,
            rows,
            unique_fields=["merchant", "channel", "external_id"],
            update_fields=[*SYNCED_ORDER_FIELDS, *UPSERTED_DEADLINE_FIELDS],
        ),
        "external_id",
        [
            (
                bulk.Rows(
                    OrderLine,
                    LINE_ROW_FIELDS,
                    lines,
                    unique_fields=["merchant", "order", "external_id"],
                    update_fields=SYNCED_LINE_FIELDS,
                ),
                "order_id",
            ),
            (bulk.Rows(OrderEvent, EVENT_ROW_FIELDS, events), "order_id"),
        ],
    )
    result.events = len(events)

    for order_id, record in incoming.items():
        pk = pk_of[order_id]
        status = record.status
        old = existing.get(order_id)
        result.changed_order_ids.append(pk)
        if old is None:
            result.created += 1
            result.new_order_ids.append(pk)
        else:
            result.updated += 1
            if any(getattr(old, flag) for flag in SWEEP_FLAGS):
                result.flagged_order_ids.append(pk)
            if old.status != status:
                if status == AmazonOrderStatus.CANCELED:
                    result.newly_cancelled_order_ids.append(pk)
                elif status == AmazonOrderStatus.SHIPPED:
                    result.newly_shipped_order_ids.append(pk)
        if order_id in new_cancel_requests:
            result.new_buyer_cancel_order_ids.append(pk)
    # New orders got theirs at insert (_initial_financial_status); only updated ones may move.
    _settle_financial_status([pk_of[i] for i in incoming if existing.get(i) is not None])
    return result


def _initial_financial_status(status: str) -> str:
    if status == AmazonOrderStatus.CANCELED:
        return FinancialStatus.VOIDED
    return FinancialStatus.PENDING if status in UNPAID_STATUSES else FinancialStatus.PAID


def _settle_financial_status(order_ids: list[int]) -> None:
    """Payment follows Amazon's status until our own refunds take over the financial status."""
    if not order_ids:
        return
    waiting = Order.objects.filter(pk__in=order_ids, financial_status=FinancialStatus.PENDING)
    waiting.filter(status=AmazonOrderStatus.CANCELED).update(
        financial_status=FinancialStatus.VOIDED
    )
    waiting.exclude(status__in=UNPAID_STATUSES).update(financial_status=FinancialStatus.PAID)


# The columns upsert_amazon_orders writes (attnames, in the order of its rows); the others get
# their defaults on insert (fulfillment, confirmation, warned_at, the sweep's flags, created_at,
# updated_at) and only SYNCED_ORDER_FIELDS and UPSERTED_DEADLINE_FIELDS change on update.
ORDER_ROW_FIELDS = (
    "merchant_id",
    "channel",
    "external_id",
    "amazon_account_id",
    "marketplace_id",
    "sales_channel",
    "status",
    "fulfillment_channel",
    "financial_status",
    "order_type",
    "ship_service_level",
    "is_prime",
    "is_business_order",
    "is_premium_order",
    "purchase_date",
    "source_updated_at",
    "earliest_ship_date",
    "latest_ship_date",
    "earliest_delivery_date",
    "latest_delivery_date",
    "currency",
    "total_amount",
    "buyer_name",
    "buyer_email",
    "buyer_cancel_requested",
    "buyer_cancel_reason",
    "buyer_cancel_requested_at",
    "shipping_address",
    "ship_by",
    "confirm_by",
    "warn_at",
    "verify_by",
)
LINE_ROW_FIELDS = ("merchant_id", "order_id", "external_id", *SYNCED_LINE_FIELDS)
_ITEM_TAX = LINE_ROW_FIELDS.index("item_tax")
_SHIPPING_TAX = LINE_ROW_FIELDS.index("shipping_tax")
_PENDING = LINE_ROW_FIELDS.index("tax_split_pending")
EVENT_ROW_FIELDS = (
    "merchant_id",
    "order_id",
    "kind",
    "message",
    "actor_type",
    "actor",
    "data",
    "message_i18n",
)


def _keep_known_tax_splits(rows: list[tuple], existing: dict[str, _Stored]) -> list[tuple]:
    """Line rows (LINE_ROW_FIELDS, the order named by its Amazon id) whose tax Amazon gave
    without its split, with the split already known for the line kept instead where
    ``policy.kept_tax_split`` says so (from getOrderItems, or an earlier answer with the
    detail). Only orders we hold have lines stored. Read under the orders' row locks, which the
    tax split's resolution takes too (``record_tax_split``)."""
    pending = {(row[1], row[2]) for row in rows if row[_PENDING] and row[1] in existing}
    if not pending:
        return rows
    amazon_id_of = {existing[amazon_id].pk: amazon_id for amazon_id, _ in pending}
    known = {
        (amazon_id_of[order_pk], item_id): policy.TaxSplit(item_tax, shipping_tax)
        for order_pk, item_id, item_tax, shipping_tax in OrderLine.objects.filter(
            order_id__in=list(amazon_id_of), tax_split_pending=False
        ).values_list("order_id", "external_id", "item_tax", "shipping_tax")
        if (amazon_id_of[order_pk], item_id) in pending
    }
    if not known:
        return rows
    out = []
    for row in rows:
        stored = known.get((row[1], row[2])) if row[_PENDING] else None
        if stored is not None:
            split = policy.kept_tax_split(
                policy.TaxSplit(row[_ITEM_TAX], row[_SHIPPING_TAX], known=False), stored
            )
            row = list(row)
            row[_ITEM_TAX], row[_SHIPPING_TAX] = split.item_tax, split.shipping_tax
            row[_PENDING] = not split.known
            row = tuple(row)
        out.append(row)
    return out


def _quantities_after_upsert(
    incoming: dict[str, AmazonOrder], existing: dict[str, _Stored]
) -> dict[str, tuple[int, int]]:
    """Ordered and shipped quantities of each incoming order as its lines will be after the
    upsert: the record's items over the lines already stored (lines are never deleted; a record
    without items keeps them), as ``selectors.line_quantities`` would read them then."""
    stored: dict[int, dict[str, tuple[int, int]]] = {}
    old_ids = [existing[i].pk for i in incoming if i in existing]
    if old_ids:
        for order_id, item_id, ordered, shipped in OrderLine.objects.filter(
            order_id__in=old_ids
        ).values_list("order_id", "external_id", "quantity_ordered", "quantity_shipped"):
            stored.setdefault(order_id, {})[item_id] = (ordered, shipped)
    out = {}
    for order_id, record in incoming.items():
        old = existing.get(order_id)
        lines = dict(stored.get(old.pk, {})) if old is not None else {}
        for item in record.items or ():
            lines[item.order_item_id] = (item.quantity_ordered, item.quantity_shipped)
        out[order_id] = (sum(q[0] for q in lines.values()), sum(q[1] for q in lines.values()))
    return out


def _order_row(
    account: AmazonAccount,
    record: AmazonOrder,
    old: _Stored | None,
    default_currency: str,
    quantities: tuple[int, int],
    rules: dict[str, policy.MarketplaceRule],
    merchant: Merchant,
) -> tuple[tuple, tuple[bool, str]]:
    """The order's row (ORDER_ROW_FIELDS) and its buyer cancellation request (flag, reason)."""
    if record.items is None and old is not None:
        cancel_requested = old.buyer_cancel_requested
        cancel_reason = old.buyer_cancel_reason
    else:
        flagged = [i for i in record.items or () if i.buyer_cancel_requested]
        cancel_requested = bool(flagged)
        cancel_reason = next((i.buyer_cancel_reason for i in flagged if i.buyer_cancel_reason), "")
    requested_at = None
    if cancel_requested:
        already = old is not None and old.buyer_cancel_requested
        requested_at = old.buyer_cancel_requested_at if already else record.last_update_date
    fulfillment_channel = record.fulfillment_channel or "MFN"
    # What recompute_deadlines would store (selectors.order_times of the order as written).
    deadlines = policy.deadlines(
        policy.OrderTimes(
            purchase_date=record.purchase_date,
            status=record.status,
            fulfillment_channel=fulfillment_channel,
            channel=Channel.AMAZON,
            latest_ship_date=record.latest_ship_date,
            quantity_ordered=quantities[0],
            quantity_shipped=quantities[1],
            fulfillment=old.fulfillment_status if old else FulfillmentStatus.UNFULFILLED,
            confirmation=old.shipment_confirmation if old else ShipmentConfirmation.NONE,
            buyer_cancel_requested=cancel_requested,
            marketplace=rules.get(record.marketplace_id, policy.DEFAULT_MARKETPLACE),
            warning_days=merchant.deadline_warning_days,
            time_zone=merchant.time_zone,
            warned_at=old.warned_at if old else None,
        )
    )
    row = (
        account.merchant_id,
        Channel.AMAZON,
        record.amazon_order_id,
        account.pk,
        record.marketplace_id,
        record.sales_channel,
        record.status,
        fulfillment_channel,
        # Not a synced field: kept on update (see _settle_financial_status).
        _initial_financial_status(record.status),
        record.order_type,
        record.ship_service_level,
        record.is_prime,
        record.is_business_order,
        record.is_premium_order,
        record.purchase_date,
        record.last_update_date,
        record.earliest_ship_date,
        record.latest_ship_date,
        record.earliest_delivery_date,
        record.latest_delivery_date,
        _currency(record, default_currency),
        _order_total(record),
        record.buyer_name,
        record.buyer_email,
        cancel_requested,
        cancel_reason,
        requested_at,
        record.shipping_address,
        deadlines.ship_by,
        deadlines.confirm_by,
        deadlines.warn_at,
        deadlines.verify_by,
    )
    return row, (cancel_requested, cancel_reason)


def _event_row(merchant_id: int, order_id: int, kind: str, message: str, data: dict) -> tuple:
    """An Amazon timeline event as a row of EVENT_ROW_FIELDS."""
    i18n = message.to_json() if isinstance(message, Text) else {}
    return (merchant_id, order_id, kind, message, ActorType.AMAZON, "Amazon", data, i18n)


# --- the split of a line's tax (orders/tax_splits.py) ----------------------------------------

RESOLVE_TAX_SPLIT_TASK = "orders.tasks.resolve_tax_split"


@dataclass(frozen=True)
class TaxSplitOutcome:
    resolved: int = 0  # lines whose split is now known
    unsettled: int = 0  # lines still pending: the answer did not give their split


@transaction.atomic
def record_tax_split(
    order_id: int, items: Iterable[AmazonOrderItem], *, now: datetime
) -> TaxSplitOutcome:
    """Store the split getOrderItems (``items``, Orders v0) gives for the order's lines whose
    split is pending (``policy.resolved_tax_split``): item and shipping tax, the split known.
    A line the answer does not settle (no such item, no tax shown, an older answer) stays
    pending, marked as asked at ``now`` so the sync asks again only later. Idempotent: lines
    whose split is known are left alone. Locks the order, as the sync's upsert does, so a page
    read meanwhile and this answer are applied one after the other, each seeing the other's."""
    if Order.objects.select_for_update().filter(pk=order_id).values_list("pk").first() is None:
        return TaxSplitOutcome()
    by_item = {item.order_item_id: item for item in items}
    resolved: list[OrderLine] = []
    unsettled: list[int] = []
    for line in OrderLine.objects.filter(order_id=order_id, tax_split_pending=True).only(
        "id", "external_id", "item_tax", "shipping_tax"
    ):
        item = by_item.get(line.external_id)
        split = None
        if item is not None:
            split = policy.resolved_tax_split(
                line.item_tax + line.shipping_tax,
                item.item_tax.amount if item.item_tax is not None else None,
                item.shipping_tax.amount if item.shipping_tax is not None else None,
            )
        if split is None:
            unsettled.append(line.pk)
            continue
        line.item_tax, line.shipping_tax = split.item_tax, split.shipping_tax
        line.tax_split_pending, line.tax_split_asked_at = False, None
        resolved.append(line)
    if resolved:
        bulk.update(
            OrderLine,
            resolved,
            ["item_tax", "shipping_tax", "tax_split_pending", "tax_split_asked_at"],
        )
    if unsettled:
        OrderLine.objects.filter(pk__in=unsettled).update(tax_split_asked_at=now)
    return TaxSplitOutcome(len(resolved), len(unsettled))


def request_tax_split(order: Order) -> None:
    """Ask Amazon at once for the split of the order's pending lines (a refund waits for it):
    queues ``orders.tasks.resolve_tax_split`` when the caller's transaction commits (at once
    outside one). Cheap to repeat: the task does nothing once the split is known. If the queue
    refuses the task, the sync asks in its next run anyway."""
    merchant_id, order_id = order.merchant_id, order.pk

    def queue() -> None:
        from django_q.tasks import async_task

        try:
            async_task(
                RESOLVE_TAX_SPLIT_TASK,
                merchant_id,
                order_id,
                task_name=f"amazon tax split {order_id}",
                group="amazon-tax-split",
            )
        except Exception:  # the broker being down must not turn a refusal into an error
            logger.exception("could not queue the tax split of order %s", order_id)

    transaction.on_commit(queue)


# --- policy deadlines and the sweep (orders/policy.py) ---------------------------------------

BATCH_SIZE = 500
SWEEP_ACTOR = "policy sweep"

# What recompute_deadlines writes.
DEADLINE_FIELDS = (
    "ship_by",
    "confirm_by",
    "warn_at",
    "verify_by",
    "is_late",
    "auto_cancel_expected",
    "pending_too_long",
)


def ensure_action_allowed(order: Order, action: policy.Action, now: datetime | None = None) -> None:
    """Raise the domain error (stable code) when the policy refuses ``action`` on ``order``."""
    times = selectors.order_times(order, refunded_on_amazon=selectors.is_refunded_on_amazon(order))
    decision = policy.allowed_actions(times, now or clock.now())[action]
    if not decision.allowed:
        cls = errors.BY_CODE.get(decision.code or "", errors.InvalidTransition)
        raise cls(decision.reason or _("This action is not allowed."), code=decision.code)


# --- stored deadlines ------------------------------------------------------------------------


def apply_deadlines(order: Order, times: policy.OrderTimes, now: datetime) -> bool:
    """Set the order's stored deadlines from the policy, in memory; True when one changed.

    Deadlines an order no longer needs become None (shipped, confirmed, cancelled, AFN). The
    sweep's flags (late, auto-cancel expected, pending too long) are only ever *cleared* here,
    when they no longer hold: setting them is the sweep's job, with the timeline event and the
    notification that go with them. ``warned_at`` is never cleared: the A9 warning is given once.
    """
    d = policy.deadlines(times)
    wanted = {
        "ship_by": d.ship_by,
        "confirm_by": d.confirm_by,
        "warn_at": d.warn_at,
        "verify_by": d.verify_by,
        "is_late": order.is_late and policy.is_late(times, now),
        "auto_cancel_expected": (
            order.auto_cancel_expected and policy.expected_auto_cancel(times, now)
        ),
        "pending_too_long": order.pending_too_long and policy.pending_too_long(times, now),
    }
    changed = False
    for name, value in wanted.items():
        if getattr(order, name) != value:
            setattr(order, name, value)
            changed = True
    return changed


def recompute_deadlines(
    orders: Iterable[Order | int], *, now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> int:
    """Recompute and store the deadlines of these orders (of the merchants in scope).

    The sync calls it with the orders it upserted (inside its transaction or not), and so does
    anything that changes an input of the policy: status, lines, shipment confirmation, the
    merchant's warning days or time zone, a marketplace policy. Locks the orders, in batches of
    ``batch_size`` per transaction, and writes only the rows that changed. Returns their number.
    """
    now = now or clock.now()
    ids = sorted({o if isinstance(o, int) else o.pk for o in orders})
    changed = 0
    for start in range(0, len(ids), batch_size):
        changed += _recompute_batch(ids[start : start + batch_size], now)
    return changed


def _recompute_batch(ids: list[int], now: datetime) -> int:
    with transaction.atomic():
        orders = list(Order.objects.filter(pk__in=ids).select_for_update().order_by("pk"))
        if not orders:
            return 0
        quantities = selectors.line_quantities(ids)
        rules = selectors.marketplace_rules(o.marketplace_id for o in orders)
        merchants = Merchant.objects.in_bulk({o.merchant_id for o in orders})
        dirty = []
        for order in orders:
            times = selectors.order_times(
                order,
                rules.get(order.marketplace_id, policy.DEFAULT_MARKETPLACE),
                merchants[order.merchant_id],
                quantities=quantities.get(order.pk, (0, 0)),
            )
            if apply_deadlines(order, times, now):
                order.updated_at = timezone.now()  # a record timestamp: the system clock
                dirty.append(order)
        if dirty:
            # One UPDATE ... FROM unnest (bulk_update's CASE WHEN per row and field
            # cost more than everything else the sync does).
            bulk.update(Order, dirty, [*DEADLINE_FIELDS, "updated_at"])
        return len(dirty)


def after_amazon_upsert(
    merchant: Merchant, result: UpsertResult, *, now: datetime | None = None
) -> None:
    """What the sync does right after ``upsert_amazon_orders``, in the same transaction and
    scope: the changed orders' deadlines (the upsert stored them; the orders carrying a sweep
    flag are recomputed here, at ``now``, to clear the flags that no longer hold), tell the
    merchant about each new buyer cancellation request (rule B5; the timeline's B1 event is the
    upsert's), then announce the change set (``orders.announcements``): fulfillment (F2) and
    refunds (R6) subscribe to it; orders do not know them."""
    recompute_deadlines(result.flagged_order_ids, now=now)
    notify_buyer_cancel_requests(merchant, result.new_buyer_cancel_order_ids)
    announcements.announce(
        announcements.OrderChangeSet(
            merchant_id=merchant.pk,
            changed_order_ids=tuple(result.changed_order_ids),
            new_order_ids=tuple(result.new_order_ids),
            newly_cancelled_order_ids=tuple(result.newly_cancelled_order_ids),
            newly_shipped_order_ids=tuple(result.newly_shipped_order_ids),
            new_buyer_cancel_order_ids=tuple(result.new_buyer_cancel_order_ids),
        )
    )


def notify_buyer_cancel_requests(merchant: Merchant, order_ids: Iterable[int]) -> int:
    """B5: one notification per order whose buyer asked Amazon to cancel it (never to the buyer:
    R4). Returns how many were made."""
    orders = (
        Order.objects.filter(pk__in=list(order_ids), buyer_cancel_requested=True)
        .only("id", "external_id", "buyer_cancel_reason")
        .order_by("id")
    )
    items = [
        NewNotification(
            NotificationKind.BUYER_CANCEL_REQUESTED,
            N_("Order %(external_id)s: the buyer asked to cancel", external_id=o.external_id),
            N_(
                'Reason: %(value)s. Use "Cancel as requested by buyer" to cancel it (with its '
                "refund), unless it has already shipped.",
                value=o.buyer_cancel_reason or N_("none given"),
            ),
            o.pk,
        )
        for o in orders
    ]
    return len(notify_merchant_many(merchant, items).notifications)


def recompute_open_orders(*, now: datetime | None = None) -> int:
    """Recompute every order of the merchants in scope that has or may get a deadline (after a
    change of the merchant's warning days or time zone, or of a marketplace policy)."""
    live = [*policy.PENDING_STATUSES, *policy.OPEN_STATUSES]
    ids = Order.objects.filter(
        Q(status__in=live) | Q(confirm_by__isnull=False) | Q(verify_by__isnull=False)
    ).values_list("pk", flat=True)
    return recompute_deadlines(list(ids), now=now)


# --- the policy sweep ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Step:
    event_kind: str
    notification_kind: str
    mark: str  # the field that records the step as done


STEPS: dict[str, _Step] = {
    "ship_by_passed": _Step(EventKind.SHIP_BY_PASSED, NotificationKind.SHIP_BY_PASSED, "is_late"),
    "deadline_warning": _Step(
        EventKind.DEADLINE_WARNING, NotificationKind.DEADLINE_WARNING, "warned_at"
    ),
    "auto_cancel_expected": _Step(
        EventKind.AUTO_CANCEL_EXPECTED,
        NotificationKind.AUTO_CANCEL_EXPECTED,
        "auto_cancel_expected",
    ),
    "pending_too_long": _Step(
        EventKind.PENDING_TOO_LONG, NotificationKind.PENDING_TOO_LONG, "pending_too_long"
    ),
}
assert tuple(STEPS) == selectors.SWEEP_STEPS

_SWEEP_FIELDS = (
    "id",
    "merchant_id",
    "external_id",
    "purchase_date",
    "ship_by",
    "confirm_by",
    "warn_at",
    "verify_by",
)


@dataclass
class SweepReport:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STEPS, 0))
    email_user_ids: set[int] = field(default_factory=set)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def sweep_merchant(
    merchant: Merchant | int, *, now: datetime | None = None, batch_size: int = BATCH_SIZE
) -> SweepReport:
    """Run every due policy step on the orders of one merchant (inside its tenant context).

    Steps, each exactly once per order: the ship-by date passed (flag ``is_late``), the A9
    warning ("Please confirm shipment by <date> to avoid cancellation", ``warned_at``), the A8
    deadline passed unconfirmed (``auto_cancel_expected``), Pending past 21 days
    (``pending_too_long``). Each writes a timeline event and notifies the merchant. Batches of
    ``batch_size`` orders, one transaction each. The merchant's e-mail digests are left to the
    caller (``notifications.tasks.send_digests``), so one run makes one e-mail per person.
    """
    if not isinstance(merchant, Merchant):
        merchant = Merchant.objects.get(pk=merchant)
    now = now or clock.now()
    report = SweepReport()
    for step in STEPS:
        while True:
            done, email_user_ids = sweep_batch(merchant, step, now=now, limit=batch_size)
            report.counts[step] += done
            report.email_user_ids |= email_user_ids
            if done < batch_size:
                break
    return report


def sweep_batch(
    merchant: Merchant, step: str, *, now: datetime, limit: int = BATCH_SIZE
) -> tuple[int, set[int]]:
    """One transaction of the sweep: lock up to ``limit`` orders due for ``step``, skipping rows
    another worker holds (``FOR UPDATE SKIP LOCKED``), and record the step on each.

    A row another worker has just handled no longer matches the due condition when we get to it
    (PostgreSQL re-checks it on the locked row), so concurrent sweeps never repeat a step.
    """
    spec = STEPS[step]
    with transaction.atomic():
        orders = list(
            Order.objects.filter(selectors.due_filter(step, now))
            .order_by(selectors.DUE_ORDERING[step], "id")
            .select_for_update(skip_locked=True)
            .only(*_SWEEP_FIELDS)[:limit]
        )
        if not orders:
            return 0, set()
        tz = merchant.time_zone
        events = []
        items = []
        for order in orders:
            if step == "deadline_warning" and order.confirm_by <= now:
                # Found only after its deadline (a late import, a long outage): "confirm by
                # <a date gone>" would be noise; the A8 step tells the merchant instead.
                continue
            message, data, title = _describe(step, order, tz)
            events.append(
                OrderEvent(
                    merchant_id=order.merchant_id,
                    order=order,
                    kind=spec.event_kind,
                    message=message,
                    actor_type=ActorType.SYSTEM,
                    actor=SWEEP_ACTOR,
                    data=data,
                )
            )
            items.append(NewNotification(spec.notification_kind, title, message, order.pk))
        OrderEvent.objects.bulk_create(events)
        # warned_at is on the policy's clock (as warn_at); updated_at records the write.
        mark = {spec.mark: now if spec.mark == "warned_at" else True}
        Order.objects.filter(pk__in=[o.pk for o in orders]).update(
            **mark, updated_at=timezone.now()
        )
        notified = notify_merchant_many(merchant, items, email_after_commit=False)
    return len(orders), notified.email_user_ids


def _describe(step: str, order: Order, tz: str) -> tuple[str, dict, str]:
    """Timeline message, event data and notification title of a sweep step."""
    ref = order.external_id
    if step == "deadline_warning":
        when = When(order.confirm_by, tz)
        return (
            policy.deadline_warning_message(order.confirm_by, tz),
            {"confirm_by": order.confirm_by.isoformat(), "warn_at": order.warn_at.isoformat()},
            N_("Order %(ref)s: confirm shipment by %(when)s", ref=ref, when=when),
        )
    if step == "ship_by_passed":
        return (
            policy.ship_by_passed_message(order.ship_by, tz),
            {"ship_by": order.ship_by.isoformat()},
            N_("Order %(ref)s is late: its ship-by date has passed", ref=ref),
        )
    if step == "auto_cancel_expected":
        return (
            policy.auto_cancel_expected_message(order.confirm_by, tz),
            {"confirm_by": order.confirm_by.isoformat()},
            N_("Order %(ref)s: shipment not confirmed in time, Amazon cancels it", ref=ref),
        )
    return (
        policy.pending_too_long_message(order.purchase_date, tz),
        {"verify_by": order.verify_by.isoformat()},
        N_("Order %(ref)s has been pending for over 21 days", ref=ref),
    )
