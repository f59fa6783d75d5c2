"""Read queries about orders, for the API, the portal and tasks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Expression, JSONField, Prefetch, Q, QuerySet, Sum

from orders import extensions, policy
from orders.models import AmazonSyncState, MarketplacePolicy, Order, OrderEvent, OrderLine
from tenants.models import AccountStatus, AmazonAccount, Merchant


def order_list() -> QuerySet[Order]:
    """Orders of the merchants in scope, newest first."""
    return Order.objects.select_related("merchant").order_by("-id")


def order_detail() -> QuerySet[Order]:
    """An order with what its assessment needs: the merchant, the lines, and its marketplace's
    rule (a subquery of the same statement: ``assess_order`` reads it)."""
    return (
        Order.objects.select_related("merchant")
        .prefetch_related(Prefetch("lines", queryset=OrderLine.objects.order_by("id")))
        .annotate(marketplace_rule_read=MarketplaceRuleRead())
    )


class MarketplaceRuleRead(Expression):
    """The order's marketplace rule as a JSON object of ``policy.MarketplaceRule``'s settings
    (null: the marketplace has no row, the default), in the order's statement. Written as SQL:
    the ORM's subquery took 0.9 ms a request to build and compile, for a lookup of one row by
    its unique key."""

    output_field = JSONField()
    SETTINGS = ("confirm_days_after_order", "confirm_business_days_after_ship_by", "time_zone")

    def as_sql(self, compiler, connection):
        quote = connection.ops.quote_name
        table = quote(MarketplacePolicy._meta.db_table)
        outer = quote(compiler.query.base_table)
        pairs = ", ".join(
            f"'{name}', {table}.{quote(MarketplacePolicy._meta.get_field(name).column)}"
            for name in self.SETTINGS
        )
        return (
            f"(SELECT jsonb_build_object({pairs}) FROM {table} "
            f"WHERE {table}.marketplace_id = {outer}.marketplace_id)",
            [],
        )


def order_events(order: Order) -> QuerySet[OrderEvent]:
    return (
        OrderEvent.objects.filter(order=order)
        .select_related("actor_user")
        .order_by("created_at", "id")
    )


def search_orders(queryset: QuerySet[Order], text: str) -> QuerySet[Order]:
    """Order number, buyer name, or an exact SKU of one of its lines."""
    text = text.strip()
    if not text:
        return queryset
    sku_orders = OrderLine.objects.filter(sku=text).values("order_id")
    return queryset.filter(
        Q(external_id__istartswith=text) | Q(buyer_name__icontains=text) | Q(pk__in=sku_orders)
    )


# --- the policy's input ----------------------------------------------------------------------


def marketplace_rule(row: MarketplacePolicy | None) -> policy.MarketplaceRule:
    """A marketplace's policy row as the pure rule; no row: the default (30 days, rule A8)."""
    if row is None:
        return policy.DEFAULT_MARKETPLACE
    return policy.MarketplaceRule(
        confirm_days_after_order=row.confirm_days_after_order,
        confirm_business_days_after_ship_by=row.confirm_business_days_after_ship_by,
        time_zone=row.time_zone,
        marketplace_id=row.marketplace_id,
    )


def marketplace_rules(marketplace_ids: Iterable[str]) -> dict[str, policy.MarketplaceRule]:
    """Rules of the given marketplaces; unknown ones get the default."""
    ids = {m for m in marketplace_ids if m}
    rows = {p.marketplace_id: p for p in MarketplacePolicy.objects.filter(marketplace_id__in=ids)}
    return {m: marketplace_rule(rows.get(m)) for m in ids}


def line_quantities(order_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """Ordered and shipped quantities per order (summed over its lines)."""
    rows = (
        OrderLine.objects.filter(order_id__in=list(order_ids))
        .values("order_id")
        .annotate(ordered=Sum("quantity_ordered"), shipped=Sum("quantity_shipped"))
        .values_list("order_id", "ordered", "shipped")
    )
    return {order_id: (ordered or 0, shipped or 0) for order_id, ordered, shipped in rows}


def tax_split_due_orders(
    account_id: int, *, asked_before: datetime, limit: int = 1
) -> list[tuple[int, str]]:
    """Orders of the Amazon account with a line whose tax split is pending and due to be asked
    for (not asked since Amazon last changed it, or last asked before ``asked_before``), newest
    first, as (id, Amazon order id): the sync's work list (orders/tax_splits.py)."""
    due = OrderLine.objects.filter(tax_split_pending=True).filter(
        Q(tax_split_asked_at__isnull=True) | Q(tax_split_asked_at__lt=asked_before)
    )
    return list(
        Order.objects.filter(amazon_account_id=account_id, pk__in=due.values("order_id"))
        .order_by("-purchase_date", "-id")
        .values_list("id", "external_id")[:limit]
    )


def order_times(
    order: Order,
    marketplace_policy: MarketplacePolicy | policy.MarketplaceRule | None = None,
    merchant: Merchant | None = None,
    *,
    quantities: tuple[int, int] | None = None,
    refunded_on_amazon: bool = False,
) -> policy.OrderTimes:
    """The policy's view of an order. Looks up what is not given (marketplace rule, merchant,
    line quantities); pass them in when handling many orders."""
    if isinstance(marketplace_policy, policy.MarketplaceRule):
        rule = marketplace_policy
    elif marketplace_policy is not None:
        rule = marketplace_rule(marketplace_policy)
    else:
        rule = marketplace_rules([order.marketplace_id]).get(
            order.marketplace_id, policy.DEFAULT_MARKETPLACE
        )
    merchant = merchant or Merchant.objects.get(pk=order.merchant_id)
    if quantities is None:
        quantities = line_quantities([order.pk]).get(order.pk, (0, 0))
    return policy.OrderTimes(
        purchase_date=order.purchase_date,
        status=order.status,
        fulfillment_channel=order.fulfillment_channel,
        channel=order.channel,
        latest_ship_date=order.latest_ship_date,
        quantity_ordered=quantities[0],
        quantity_shipped=quantities[1],
        fulfillment=order.fulfillment_status,
        confirmation=order.shipment_confirmation,
        buyer_cancel_requested=order.buyer_cancel_requested,
        marketplace=rule,
        warning_days=merchant.deadline_warning_days,
        time_zone=merchant.time_zone,
        warned_at=order.warned_at,
        refunded_on_amazon=refunded_on_amazon,
    )


def is_refunded_on_amazon(order: Order) -> bool:
    """R6: Amazon shows a refund of the order made outside Keelson (the refunds app's record,
    provided through ``orders.extensions``)."""
    return extensions.refunded_on_amazon.function(order)


def assess_order(order: Order, now: datetime) -> policy.Assessment:
    """Deadlines, flags and allowed actions of one order (API detail, portal order page). Uses
    the order's merchant, lines and marketplace rule when they were read with it
    (``order_detail``)."""
    merchant = order.merchant if Order.merchant.is_cached(order) else None
    rule = None
    if hasattr(order, "marketplace_rule_read"):
        read = order.marketplace_rule_read  # None: the marketplace has no row, the default
        rule = (
            policy.DEFAULT_MARKETPLACE
            if read is None
            else policy.MarketplaceRule(**read, marketplace_id=order.marketplace_id)
        )
    lines = getattr(order, "_prefetched_objects_cache", {}).get("lines")
    quantities = None
    if lines is not None:
        quantities = (
            sum(line.quantity_ordered for line in lines),
            sum(line.quantity_shipped for line in lines),
        )
    return policy.assess(
        order_times(
            order,
            rule,
            merchant=merchant,
            quantities=quantities,
            refunded_on_amazon=is_refunded_on_amazon(order),
        ),
        now,
    )


# --- the policy sweep's work lists -----------------------------------------------------------
# Each condition matches one partial index of Order (order_*_due): it holds only orders still
# awaiting that step, so these read the due rows and nothing else.

SWEEP_STEPS = ("ship_by_passed", "deadline_warning", "auto_cancel_expected", "pending_too_long")


def due_filter(step: str, now: datetime) -> Q:
    if step == "ship_by_passed":
        return Q(is_late=False, ship_by__isnull=False, ship_by__lt=now)
    if step == "deadline_warning":
        return Q(warned_at__isnull=True, warn_at__isnull=False, warn_at__lte=now)
    if step == "auto_cancel_expected":
        return Q(auto_cancel_expected=False, confirm_by__isnull=False, confirm_by__lt=now)
    if step == "pending_too_long":
        return Q(pending_too_long=False, verify_by__isnull=False, verify_by__lt=now)
    raise ValueError(f"unknown sweep step {step!r}")


DUE_ORDERING = {
    "ship_by_passed": "ship_by",
    "deadline_warning": "warn_at",
    "auto_cancel_expected": "confirm_by",
    "pending_too_long": "verify_by",
}


def merchant_ids_with_due_orders(now: datetime) -> list[int]:
    """Active merchants with at least one order due for a sweep step. Cross-tenant: call it
    inside ``system_context``; it returns ids only."""
    queries = [
        Order.objects.filter(due_filter(step, now)).values_list("merchant_id", flat=True)
        for step in SWEEP_STEPS
    ]
    first, *rest = queries
    ids = set(first.union(*rest))
    if not ids:
        return []
    return sorted(Merchant.objects.filter(id__in=ids, is_active=True).values_list("id", flat=True))


# --- filters for lists (API `at_risk`, portal dashboard) -------------------------------------


def at_risk_filter(now: datetime) -> Q:
    """Shipment not confirmed and the A9 warning given or due. Written as the two halves the
    partial indexes ``order_merchant_warned`` and ``order_merchant_warn_due`` hold, so that
    PostgreSQL reads the at-risk orders and no other."""
    return Q(confirm_by__isnull=False) & (
        Q(warned_at__isnull=False) | Q(warned_at__isnull=True, warn_at__lte=now)
    )


def late_filter(now: datetime) -> Q:
    """Not completely shipped after the ship-by date (flagged or not yet swept)."""
    return Q(is_late=True) | Q(ship_by__lt=now)


def orders_at_risk(now: datetime) -> QuerySet[Order]:
    return Order.objects.filter(at_risk_filter(now)).order_by("confirm_by", "id")


# --- the Amazon sync's progress (orders/sync.py) ---------------------------------------------


@dataclass(frozen=True)
class BackfillProgress:
    days: int
    pages: int
    orders: int
    progress: float  # 0..1: the share of the backfill's time range read
    eta_seconds: int | None  # from the time spent so far; None until something was read
    started_at: datetime | None
    finished_at: datetime | None


@dataclass(frozen=True)
class AmazonSyncStatus:
    account_id: int
    merchant_id: int
    name: str
    status: str  # the account's: active, paused, auth_failed, disconnected
    phase: str  # backfilling, live, not_started, or the account's status when not active
    synced_until: datetime | None  # Amazon's time: every change before it is here
    last_success_at: datetime | None
    next_sync_at: datetime | None
    last_error: str
    backfill: BackfillProgress | None
    # The push lane (orders/order_changes.py): subscribed to ORDER_CHANGE, and when the last
    # notification for this account arrived.
    notifications_subscribed: bool = False
    last_notification_at: datetime | None = None
    # Failed runs in a row (0 once a run works again): the retries' back-off.
    consecutive_failures: int = 0


def backfill_progress(state, now: datetime) -> BackfillProgress | None:
    if state is None or state.backfill_from is None:
        return None
    if state.backfill_finished_at is not None:
        fraction = 1.0
    elif state.backfill_to is None or state.backfill_position is None:
        fraction = 0.0
    else:
        span = (state.backfill_to - state.backfill_from).total_seconds()
        done = (state.backfill_position - state.backfill_from).total_seconds()
        fraction = min(1.0, max(0.0, done / span)) if span > 0 else 0.0
    eta = None
    if state.backfill_finished_at is not None:
        eta = 0
    elif fraction > 0 and state.backfill_started_at is not None:
        elapsed = (now - state.backfill_started_at).total_seconds()
        eta = round(elapsed * (1 - fraction) / fraction)
    return BackfillProgress(
        days=state.backfill_days,
        pages=state.backfill_pages,
        orders=state.backfill_orders,
        progress=round(fraction, 4),
        eta_seconds=eta,
        started_at=state.backfill_started_at,
        finished_at=state.backfill_finished_at,
    )


def amazon_sync_statuses(merchant_ids: Iterable[int] | None = None) -> list[AmazonSyncStatus]:
    """The sync of every Amazon account in the current scope (or of these merchants): where it
    stands, and the backfill's pages, orders, progress and estimated time left."""
    from django.utils import timezone

    accounts = AmazonAccount.objects.order_by("merchant_id", "name", "id")
    if merchant_ids is not None:
        accounts = accounts.filter(merchant_id__in=list(merchant_ids))
    accounts = list(accounts)
    states = {
        s.account_id: s
        for s in AmazonSyncState.objects.filter(account_id__in=[a.pk for a in accounts])
    }
    now = timezone.now()
    out = []
    for account in accounts:
        state = states.get(account.pk)
        if account.status != AccountStatus.ACTIVE:
            phase = account.status
        elif state is not None and state.backfilling:
            phase = "backfilling"
        elif account.sync_cursor is not None:
            phase = "live"
        else:
            phase = "not_started"
        out.append(
            AmazonSyncStatus(
                account_id=account.pk,
                merchant_id=account.merchant_id,
                name=account.name or account.selling_partner_id,
                status=account.status,
                phase=phase,
                synced_until=account.sync_cursor,
                last_success_at=state.last_success_at if state else None,
                next_sync_at=account.next_sync_at
                if account.status == AccountStatus.ACTIVE
                else None,
                last_error=(state.last_error if state else "") or account.status_message,
                backfill=backfill_progress(state, now),
                notifications_subscribed=bool(state and state.order_change_subscription_id),
                last_notification_at=state.last_notification_at if state else None,
                consecutive_failures=state.failures if state else 0,
            )
        )
    return out
