"""The Amazon order sync: Amazon's orders into ours, per account, page by page.

Design (docs/benchmarks.md "Sync: which Orders API" has the measurements behind the choices):

- **Cursor on Amazon's clock.** ``AmazonAccount.sync_cursor`` is the ``LastUpdatedBefore`` that
  Amazon applied to the last window we finished: every order changed up to then is ours. A new
  window starts at the cursor minus ``OVERLAP`` and leaves its end to Amazon (which answers with
  the end it applied, two minutes before its now); the window's end, page token and position
  are kept in ``AmazonSyncState``, so a killed run resumes on the page it was reading.
- **One transaction per page**: the upsert (``orders.services.upsert_amazon_orders``: bulk,
  newer-wins, the stored policy deadlines, timeline events for status changes and buyer
  cancellation requests), what follows it (``after_amazon_upsert``: the sweep flags of updated
  orders, the B5 notification, fulfillment, the R6 refund check), and the sync
  state (token, position, and the cursor when the window is done), under a lock of the account
  row that also checks our lease. Re-reading any page or window changes nothing.
- **Tax splits.** searchOrders may give an item's tax as one figure although part of it is
  the shipping's; a third lane asks getOrderItems for those splits, with getOrderItems tokens
  the live lane does not need (``orders/tax_splits.py``).
- **API per situation.** Small deltas: Orders v0 getOrders (one page per call) and
  getOrderItems only for orders that are new or changed (its burst of 30 makes a handful
  instant). Large deltas and backfills: Orders 2026-01-01 searchOrders, 100 orders with their
  items per call. A window switches to searchOrders when one v0 page has more changed orders
  than getOrderItems can serve at once and searchOrders would be sooner (``_search_is_faster``,
  from our token buckets), or starts with it when the cursor is more than ``CATCH_UP_LAG``
  behind Amazon's clock.
- **Backfill lane.** Connecting an account reads the orders changed in the ``backfill_days``
  before, with searchOrders, beside the live lane (the two APIs have separate rate limits, so
  new orders are not held up by a long backfill); progress: pages, orders and the share of the
  backfill's time range covered (pages come in LastUpdateDate order), with an estimate of the
  time left.
- **Lease.** Only the holder of the account's lease runs (``claim_lease``: one conditional
  UPDATE). A run stops after ``KEELSON_SYNC_RUN_SECONDS`` and when its lanes are done or
  waiting for Amazon's rate limits, then releases the lease and sets ``next_sync_at``: soon
  for accounts with recent changes, up to five minutes for quiet ones, later after throttling
  or failures.
- **Errors** (``integrations.amazon.gateway``): throttled -> yield and come back when the token
  is due; transient (5xx, malformed page: the gateway retries each page first) -> back off,
  keeping cursor and token; authorisation failed -> the account is marked ``auth_failed``, the
  merchant is told, nothing runs until it is reconnected; an expired page token -> the window
  resumes from its position.

Services here run inside ``tenant_context(account.merchant_id)``; ``orders.tasks`` sets it.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from foundation.text import N_
from integrations.amazon.gateway import (
    AmazonAuthFailed,
    AmazonError,
    AmazonGateway,
    AmazonPermanentError,
    AmazonThrottled,
)
from integrations.amazon.records import AmazonOrder, OrdersPage
from notifications.models import NotificationKind
from notifications.services import notify_merchant
from orders import amazon_reads, order_changes, selectors, tax_splits
from orders.models import AmazonSyncState, Channel, Order
from orders.services import (
    UpsertResult,
    after_amazon_upsert,
    record_tax_split,
    upsert_amazon_orders,
)
from tenants.models import AccountStatus, AmazonAccount, AmazonRegion, Merchant

logger = logging.getLogger(__name__)

Api = AmazonSyncState.Api

# Re-read this much before the cursor: Amazon's order index is eventually consistent.
OVERLAP = timedelta(minutes=5)
# Amazon's LastUpdatedBefore lags its clock by two minutes (the newest end it accepts).
AMAZON_LAG = timedelta(minutes=2)
# More orders to fetch items for in one v0 page than getOrderItems' burst: searchOrders is faster
# (used as is when our rate limiter is off; with it, the buckets as they stand decide).
LARGE_DELTA = 30
# A cursor this far behind Amazon's clock (an outage, a paused account): start with searchOrders.
CATCH_UP_LAG = timedelta(hours=1)
# Polling: an account with changes in the last ACTIVE_FOR is polled every ACTIVE_INTERVAL (the
# pace of getOrders' rate, 1 per 60 s), a quiet one less often, up to QUIET_INTERVAL.
ACTIVE_FOR = timedelta(minutes=15)
ACTIVE_INTERVAL = timedelta(seconds=60)
WARM_FOR = timedelta(hours=1)
WARM_INTERVAL = timedelta(minutes=2)
QUIET_INTERVAL = timedelta(minutes=5)
# The fan-out runs every minute, give or take the scheduler's 30 s: leave it some slack.
SCHEDULE_SLACK = timedelta(seconds=15)
MAX_BACKOFF = timedelta(minutes=30)


@contextmanager
def page_transaction() -> Iterator[None]:
    """The transaction of one page: ``atomic()``, committed without waiting for its WAL to
    reach the disk (``SET LOCAL synchronous_commit = off``, this transaction only; the commit's
    fsync was a quarter of a page's time: docs/benchmarks.md, "Sync: ingest").

    Safe for the sync's pages: a crash of PostgreSQL can lose only the transactions committed in
    its last moments (up to three times ``wal_writer_delay``, 0.6 s), each whole, never in part.
    A page's transaction writes the sync state with its orders (token, position, and the cursor
    when a window ends: ``_Run._commit``), so a lost page is lost with the state that says it
    was read: the next run reads it again from Amazon, and the upsert is idempotent. Its outbox
    messages leave only after ``integrations.outbox.services.claim`` committed them, a commit
    that waits for the disk and so makes the page's durable too (the WAL is flushed in order).
    What a reader (the portal, the API, an e-mail digest) saw of a page in the instant before
    such a crash comes back when the page is read again, with new row ids."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        yield


def run_seconds() -> float:
    return float(getattr(settings, "KEELSON_SYNC_RUN_SECONDS", 240))


def run_steps() -> int:
    """Lane steps (a page, or one order's tax split) after which a run stops; 0: no limit. A
    bound by work, where ``run_seconds`` bounds by time: tests of the lease use it, so that how
    many runs an account takes does not depend on how fast the machine is."""
    return int(getattr(settings, "KEELSON_SYNC_RUN_STEPS", 0))


def lease_seconds() -> float:
    return float(getattr(settings, "KEELSON_SYNC_LEASE_SECONDS", 300))


def default_backfill_days() -> int:
    return int(getattr(settings, "KEELSON_SYNC_BACKFILL_DAYS", 30))


# The task one sync run is (queued by the fan-out and "Sync now"), and how long the lease
# claimed for a queued task lasts before another worker may take the account (a cluster killed
# with the task in hand leaves the account to the fan-out after that; the broker hands the
# task itself out again after Q_CLUSTER's ``retry``). KEELSON_SYNC_QUEUED_LEASE_SECONDS.
SYNC_TASK = "orders.tasks.sync_amazon_account"
QUEUED_LEASE_SECONDS = 600


def queued_lease_seconds() -> float:
    return float(getattr(settings, "KEELSON_SYNC_QUEUED_LEASE_SECONDS", QUEUED_LEASE_SECONDS))


# --- connecting an account -------------------------------------------------------------------


@transaction.atomic
def connect_amazon_account(
    merchant: Merchant,
    *,
    selling_partner_id: str,
    marketplace_ids: list[str],
    refresh_token: str,
    region: str = AmazonRegion.NA,
    name: str = "",
    lwa_client_id: str = "",
    lwa_client_secret: str = "",
    endpoint_override: str = "",
    lwa_endpoint_override: str = "",
    backfill_days: int | None = None,
) -> AmazonAccount:
    """Connect (or reconnect) a seller account and start its sync with a backfill of the last
    ``backfill_days`` (default ``KEELSON_SYNC_BACKFILL_DAYS``, 30). Reconnecting an account
    (new credentials after ``auth_failed``) keeps its cursor: the sync carries on where it was."""
    days = default_backfill_days() if backfill_days is None else backfill_days
    fields = {
        "name": name,
        "region": region,
        "marketplace_ids": list(marketplace_ids),
        "lwa_refresh_token": refresh_token,
        "lwa_client_id": lwa_client_id,
        "lwa_client_secret": lwa_client_secret,
        "endpoint_override": endpoint_override,
        "lwa_endpoint_override": lwa_endpoint_override,
        "status": AccountStatus.ACTIVE,
        "status_message": "",
        "next_sync_at": timezone.now(),
        "connected_at": timezone.now(),
    }
    account, created = AmazonAccount.objects.select_for_update().get_or_create(
        merchant=merchant, selling_partner_id=selling_partner_id, defaults=fields
    )
    if not created:
        for key, value in fields.items():
            setattr(account, key, value)
        account.save()
    state = _state_for(account)
    if created or (account.sync_cursor is None and not state.backfilling):
        start_backfill(account, days, state=state)
    # Amazon pushes each change too (ORDER_CHANGE), when our queue is configured.
    order_changes.request_subscription(account)
    return account


def start_backfill(
    account: AmazonAccount, days: int, *, state: AmazonSyncState | None = None
) -> AmazonSyncState:
    """(Re)start the backfill lane: orders changed in the last ``days``. With 0 days there is
    none, and the live lane starts now."""
    state = state or _state_for(account)
    now = timezone.now()
    state.backfill_days = days
    state.backfill_token = ""
    state.backfill_to = None
    state.backfill_position = None
    state.backfill_pages = state.backfill_orders = 0
    state.backfill_finished_at = None
    if days > 0:
        state.backfill_from = now - timedelta(days=days)
        state.backfill_started_at = now
    else:
        state.backfill_from = state.backfill_started_at = None
        if account.sync_cursor is None:
            AmazonAccount.objects.filter(pk=account.pk).update(sync_cursor=now - AMAZON_LAG)
            account.sync_cursor = now - AMAZON_LAG
    state.save()
    return state


def rewind(account: AmazonAccount, to: datetime) -> None:
    """Re-read everything Amazon changed since ``to`` (an operator's repair): the live lane's
    cursor moves back and its open window is dropped. Changes nothing that is already right."""
    owner = new_lease_owner()
    if not claim_lease(account.pk, owner):
        raise LeaseBusy(_("The account is being synced right now; try again in a minute."))
    try:
        with transaction.atomic():
            state = _state_for(account)
            _close_window(state)
            state.save()
            AmazonAccount.objects.filter(pk=account.pk).update(sync_cursor=to)
    finally:
        release_lease(account.pk, owner, timezone.now())


def _state_for(account: AmazonAccount) -> AmazonSyncState:
    state, _created = AmazonSyncState.objects.get_or_create(
        account=account, defaults={"merchant_id": account.merchant_id}
    )
    return state


# --- the lease -------------------------------------------------------------------------------


def new_lease_owner() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _lease_free() -> Q:
    now = timezone.now()
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


def claim_lease(account_id: int, owner: str, seconds: float | None = None) -> bool:
    """Take the account's lease for ``owner`` if it is free, expired, or already ``owner``'s
    (a task handed out again keeps its claim): one conditional UPDATE, so of two workers
    claiming at once exactly one wins. Only active accounts."""
    until = timezone.now() + timedelta(seconds=seconds or lease_seconds())
    return bool(
        AmazonAccount.objects.filter(pk=account_id, status=AccountStatus.ACTIVE)
        .filter(_lease_free() | Q(lease_owner=owner))
        .update(lease_until=until, lease_owner=owner)
    )


def release_lease(account_id: int, owner: str, next_sync_at: datetime | None) -> bool:
    fields: dict = {"lease_until": None, "lease_owner": ""}
    if next_sync_at is not None:
        fields["next_sync_at"] = next_sync_at
    return bool(AmazonAccount.objects.filter(pk=account_id, lease_owner=owner).update(**fields))


class LeaseBusy(Exception):
    """Another worker holds the account's lease."""


class LeaseLost(Exception):
    """Another worker holds the account now (our lease expired): stop without writing."""


# --- a run -----------------------------------------------------------------------------------


@dataclass
class RunReport:
    account_id: int
    ran: bool = False
    outcome: str = ""  # caught_up, budget, throttled, transient, permanent, auth_failed, ...
    pages: int = 0
    orders: int = 0
    created: int = 0
    updated: int = 0
    events: int = 0
    v0_pages: int = 0
    search_pages: int = 0
    item_calls: int = 0
    tax_splits: int = 0  # lines whose tax split getOrderItems gave (orders/tax_splits.py)
    backfilling: bool = False
    next_sync_at: datetime | None = None
    error: str = ""
    lanes: dict = field(default_factory=dict)
    # While the run held the account's lease (claimed after, released after): the task's result
    # shows which worker had the account when.
    held_from: datetime | None = None
    held_until: datetime | None = None
    lease_owner: str = ""

    def as_dict(self) -> dict:
        data = asdict(self)
        for name in ("next_sync_at", "held_from", "held_until"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        return data


@dataclass
class _Blocked(Exception):
    retry_after: float


def sync_account(
    account_id: int,
    *,
    owner: str | None = None,
    budget: float | None = None,
    max_pages: int | None = None,
    gateway: AmazonGateway | None = None,
) -> RunReport:
    """One run of the sync for one account (inside its merchant's tenant context): claim the
    lease, read pages until its lanes are done, waiting for Amazon, or out of ``budget``
    seconds (or ``max_pages``), then release the lease with the next run's time."""
    owner = owner or new_lease_owner()
    report = RunReport(account_id=account_id)
    if not claim_lease(account_id, owner):
        report.outcome = "lease_busy"
        return report
    report.ran = True
    report.held_from = timezone.now()
    report.lease_owner = owner
    next_sync_at: datetime | None = None
    try:
        account = AmazonAccount.objects.get(pk=account_id)
        run = _Run(
            account, owner, report, gateway or amazon_reads.sync_gateway(account), budget, max_pages
        )
        next_sync_at = run.execute()
    except LeaseLost:
        report.outcome = "lease_lost"
        return report
    except Exception as exc:
        # A bug, or the database: record it, back off, and let the task fail visibly.
        # The state (shown to partners) names no internals; the log has the traceback.
        logger.exception("amazon sync of account %s failed", account_id)
        next_sync_at = _record_failure(account_id, f"Internal error ({type(exc).__name__}).")
        report.outcome = "error"
        raise
    finally:
        report.held_until = timezone.now()
        release_lease(account_id, owner, next_sync_at)
        report.next_sync_at = next_sync_at
    return report


class _Run:
    def __init__(
        self,
        account: AmazonAccount,
        owner: str,
        report: RunReport,
        gateway: AmazonGateway,
        budget: float | None,
        max_pages: int | None,
    ):
        self.account = account
        self.owner = owner
        self.report = report
        self.gateway = gateway
        self.merchant = Merchant.objects.get(pk=account.merchant_id)
        self.state = _state_for(account)
        self.deadline = time.monotonic() + (run_seconds() if budget is None else budget)
        self.max_pages = max_pages
        self.max_steps = run_steps()
        self.steps = 0

    # -- the loop ------------------------------------------------------------------------------

    def execute(self) -> datetime | None:
        state, report = self.state, self.report
        now = timezone.now()
        state.last_run_at = now
        AmazonSyncState.objects.filter(pk=state.pk).update(last_run_at=now)
        # The backfill first: its first page sets the cursor the live lane starts from. The
        # tax lane asks getOrderItems for the tax splits searchOrders left unknown.
        lanes = {"backfill": self._backfill_step, "live": self._live_step, "tax": self._tax_step}
        done: set[str] = set()
        blocked: dict[str, float] = {}
        if not state.backfilling:
            done.add("backfill")
        try:
            while True:
                active = [name for name in lanes if name not in done and name not in blocked]
                if not active:
                    break
                if self._out_of_budget():
                    report.outcome = "budget"
                    break
                for name in active:
                    if self._out_of_budget():
                        break
                    try:
                        self.steps += 1
                        if lanes[name]():
                            done.add(name)
                    except _Blocked as exc:
                        blocked[name] = exc.retry_after
        except AmazonAuthFailed as exc:
            self._auth_failed(exc)
            report.outcome = "auth_failed"
            report.error = exc.message
            return None
        except AmazonError as exc:
            permanent = isinstance(exc, AmazonPermanentError)
            report.outcome = "permanent" if permanent else "transient"
            report.error = exc.message
            logger.warning("amazon sync of account %s: %s", self.account.pk, exc)
            return _record_failure(self.account.pk, str(exc))
        report.lanes = {"done": sorted(done), "blocked": blocked}
        report.backfilling = self.state.backfilling
        if not report.outcome:
            # Splits left for later do not hold the orders back: they are caught up.
            waiting = set(blocked) - {"tax"}
            report.outcome = "throttled" if waiting else "caught_up"
        return self._finish(done, blocked)

    def _out_of_budget(self) -> bool:
        if time.monotonic() >= self.deadline:
            return True
        if self.max_steps and self.steps >= self.max_steps:
            return True
        return self.max_pages is not None and self.report.pages >= self.max_pages

    def _finish(self, done: set[str], blocked: dict[str, float]) -> datetime:
        now = timezone.now()
        state = self.state
        if self.report.outcome == "budget":
            when = now  # more to read: the next fan-out continues
        else:
            candidates = []
            if "live" in blocked:
                candidates.append(now + timedelta(seconds=blocked["live"]))
            else:
                candidates.append(now + self._poll_interval(now) - SCHEDULE_SLACK)
            if state.backfilling:
                candidates.append(now + timedelta(seconds=blocked.get("backfill", 0)))
            if "tax" in blocked:  # more splits to ask for once getOrderItems has tokens
                candidates.append(now + timedelta(seconds=blocked["tax"]))
            when = min(candidates)
        AmazonSyncState.objects.filter(pk=state.pk).update(
            last_success_at=now, last_outcome=self.report.outcome, failures=0, last_error=""
        )
        return when

    def _poll_interval(self, now: datetime) -> timedelta:
        """Recent activity: an order created or changed, or the account just connected (the
        merchant is watching the first orders arrive)."""
        last = max(filter(None, (self.state.last_change_at, self.account.connected_at)))
        if now - last <= ACTIVE_FOR:
            return ACTIVE_INTERVAL
        if now - last <= WARM_FOR:
            return WARM_INTERVAL
        return QUIET_INTERVAL

    def _amazon_now(self) -> datetime:
        return timezone.now() + timedelta(seconds=self.state.clock_offset_seconds)

    def _learn_clock(self, last_updated_before: datetime | None) -> None:
        if last_updated_before is not None:
            amazon_now = last_updated_before + AMAZON_LAG
            self.state.clock_offset_seconds = (amazon_now - timezone.now()).total_seconds()

    # -- live lane -----------------------------------------------------------------------------

    def _live_step(self) -> bool:
        """Read one page of the live window; True when the window is done (or there is none to
        open yet: the backfill's first page sets the cursor)."""
        account, state = self.account, self.state
        if account.sync_cursor is None:
            if state.backfilling:
                return True
            # No cursor and no backfill (an account from before the sync): start one.
            start_backfill(account, default_backfill_days(), state=state)
            return True
        if state.window_start is None:
            state.window_start = account.sync_cursor - OVERLAP
            state.window_end = None
            state.window_token = ""
            state.window_position = None
            lag = self._amazon_now() - account.sync_cursor
            catching_up = lag > CATCH_UP_LAG and self._wait_for("searchOrders") == 0
            state.window_api = Api.V2026 if catching_up else Api.V0
        start = state.window_position or state.window_start
        try:
            if state.window_api == Api.V0:
                page = self._v0_page(start)
            else:
                page = self._search_page(state.window_token, start, state.window_end, lane="live")
        except _ExpiredToken:
            state.window_token = ""
            return False
        if page is None:  # switched API, or a partial page: read again
            return False
        if state.window_end is None:
            state.window_end = page.last_updated_before
        return self._commit_live(page)

    def _v0_page(self, start: datetime) -> OrdersPage | None:
        state = self.state
        page = self._call(
            lambda: self.gateway.get_orders_page(
                next_token=state.window_token or None,
                last_updated_after=start,
                last_updated_before=state.window_end,
            ),
            has_token=bool(state.window_token),
        )
        self.report.v0_pages += 1
        if not state.window_token and state.window_end is None:
            self._learn_clock(page.last_updated_before)
        if state.window_end is None:
            state.window_end = page.last_updated_before
        need = self._orders_needing_items(page.orders)
        if self._search_is_faster(len(need)):
            # A large delta: read this window with searchOrders (items included) instead.
            logger.info(
                "amazon sync of account %s: %s changed orders in one page, using searchOrders",
                self.account.pk,
                len(need),
            )
            state.window_api = Api.V2026
            state.window_token = ""
            self._save_state()
            return None
        with_items: dict[str, AmazonOrder] = {}
        for order in page.orders:
            if order.amazon_order_id not in need:
                continue
            if self._out_of_budget_hard():
                break
            try:
                items = self._call(lambda o=order: self.gateway.get_order_items(o.amazon_order_id))
            except _Blocked:
                self._commit_partial(list(with_items.values()))
                raise
            self.report.item_calls += 1
            with_items[order.amazon_order_id] = amazon_reads.with_items(order, items)
        if len(with_items) < len(need):
            # Out of time: keep what we have, read this page again next time.
            self._commit_partial(list(with_items.values()))
            self.report.outcome = "budget"
            raise _Blocked(0)
        records = [with_items.get(o.amazon_order_id, o) for o in page.orders]
        return OrdersPage(tuple(records), page.next_token, page.last_updated_before)

    def _wait_for(self, operation: str, tokens: float = 1.0) -> float:
        seller = self.gateway.credentials.selling_partner_id
        return self.gateway.limiter.wait_for(seller, operation, tokens)

    def _search_is_faster(self, orders_needing_items: int) -> bool:
        """Would searchOrders (items included, 100 orders a call) bring this page's changes in
        sooner than one getOrderItems call per changed order, with the rate limits as they
        stand? getOrderItems' burst (30) makes a few orders instant; past it each costs 2 s,
        while searchOrders costs nothing while it has a token and 180 s when it has none.
        Without our rate limiter (the emulator's bulk tests) it switches past LARGE_DELTA."""
        if orders_needing_items <= 0:
            return False
        if not self.gateway.limiter.enabled:
            return orders_needing_items > LARGE_DELTA
        items_wait = self._wait_for("getOrderItems", orders_needing_items)
        return self._wait_for("searchOrders") < items_wait

    def _out_of_budget_hard(self) -> bool:
        # Items of one page may take a while: stop fetching a little after the budget.
        return time.monotonic() >= self.deadline + 30

    def _orders_needing_items(self, orders: tuple[AmazonOrder, ...]) -> set[str]:
        ours = dict(
            Order.objects.filter(
                channel=Channel.AMAZON, external_id__in=[o.amazon_order_id for o in orders]
            ).values_list("external_id", "source_updated_at")
        )
        return {
            o.amazon_order_id
            for o in orders
            if o.amazon_order_id not in ours or o.last_update_date > ours[o.amazon_order_id]
        }

    def _commit_live(self, page: OrdersPage) -> bool:
        state, account = self.state, self.account
        finished = page.next_token is None

        def update() -> None:
            state.window_token = page.next_token or ""
            if page.orders:
                newest = max(o.last_update_date for o in page.orders)
                state.window_position = max(filter(None, (state.window_position, newest)))
            if finished:
                end = state.window_end or account.sync_cursor
                account.sync_cursor = max(account.sync_cursor, end)
                _close_window(state)

        self._commit(page.orders, update, cursor=finished)
        return finished

    def _commit_partial(self, records: list[AmazonOrder]) -> None:
        if records:
            self._commit(tuple(records), lambda: None, cursor=False, count_page=False)

    # -- backfill lane -------------------------------------------------------------------------

    def _backfill_step(self) -> bool:
        state = self.state
        if not state.backfilling:
            return True
        start = state.backfill_position or state.backfill_from
        try:
            page = self._search_page(state.backfill_token, start, state.backfill_to, "backfill")
        except _ExpiredToken:
            state.backfill_token = ""
            return False
        first = state.backfill_to is None
        finished = page.next_token is None

        def update() -> None:
            now = timezone.now()
            if first:
                state.backfill_to = page.last_updated_before
                if self.account.sync_cursor is None:
                    # The live lane starts where the backfill ends.
                    self.account.sync_cursor = page.last_updated_before
            state.backfill_token = page.next_token or ""
            if page.orders:
                newest = max(o.last_update_date for o in page.orders)
                state.backfill_position = max(filter(None, (state.backfill_position, newest)))
            state.backfill_pages += 1
            state.backfill_orders += len(page.orders)
            if finished:
                state.backfill_finished_at = now
                state.backfill_token = ""

        self._commit(page.orders, update, cursor=first)
        return finished

    # -- tax lane ------------------------------------------------------------------------------

    def _tax_step(self) -> bool:
        """Ask getOrderItems for the tax split of one order whose split searchOrders left
        unknown (orders/tax_splits.py), newest order first; True when none is due. Only with
        getOrderItems tokens beyond ``tax_splits.LIVE_RESERVE`` (the live lane's new orders and
        refunds waiting come first), and without waiting for one: it yields instead."""
        now = timezone.now()
        due = selectors.tax_split_due_orders(
            self.account.pk, asked_before=tax_splits.due_before(now), limit=1
        )
        if not due:
            return True
        wait = self._wait_for("getOrderItems", tax_splits.LIVE_RESERVE + 1)
        if wait > 0:
            raise _Blocked(wait)
        order_id, amazon_order_id = due[0]
        items = self._call(lambda: tax_splits.read_items(self.gateway, amazon_order_id))
        self.report.item_calls += 1
        with transaction.atomic():
            self._hold_lease()
            outcome = record_tax_split(order_id, items, now=now)
        self.report.tax_splits += outcome.resolved
        return False

    def _hold_lease(self) -> None:
        """Inside a transaction: lock the account, check the lease is still ours and extend
        it (else LeaseLost: another worker has the account)."""
        locked = (
            AmazonAccount.objects.select_for_update().only("lease_owner").get(pk=self.account.pk)
        )
        if locked.lease_owner != self.owner:
            raise LeaseLost()
        AmazonAccount.objects.filter(pk=self.account.pk).update(
            lease_until=timezone.now() + timedelta(seconds=lease_seconds())
        )

    # -- shared --------------------------------------------------------------------------------

    def _search_page(
        self, token: str, start: datetime, end: datetime | None, lane: str
    ) -> OrdersPage:
        page = self._call(
            lambda: self.gateway.search_orders_page(
                pagination_token=token or None,
                last_updated_after=start,
                last_updated_before=end,
            ),
            has_token=bool(token),
        )
        self.report.search_pages += 1
        if not token and end is None:
            self._learn_clock(page.last_updated_before)
        return page

    def _call(self, fn, *, has_token: bool = False):
        """Run a gateway call; throttling becomes _Blocked (the lane waits), an expired page
        token _ExpiredToken (the lane resumes from its position). Other errors propagate."""
        try:
            return fn()
        except AmazonThrottled as exc:
            raise _Blocked(exc.retry_after) from exc
        except AmazonPermanentError as exc:
            if has_token and exc.status == 400:
                logger.info(
                    "amazon sync of account %s: page token refused (%s)", self.account.pk, exc
                )
                raise _ExpiredToken() from exc
            raise

    def _commit(self, records, update, *, cursor: bool, count_page: bool = True) -> None:
        """One transaction: lock the account (and check the lease), upsert, what follows the
        upsert, the sync state. If anything fails, none of it happened."""
        account, state, report = self.account, self.state, self.report
        with page_transaction():
            locked = (
                AmazonAccount.objects.select_for_update()
                .only("id", "lease_owner", "sync_cursor")
                .get(pk=account.pk)
            )
            if locked.lease_owner != self.owner:
                raise LeaseLost()
            result = UpsertResult()
            if records:
                result = upsert_amazon_orders(
                    account=account,
                    records=list(records),
                    default_currency=self.merchant.default_currency,
                )
                after_amazon_upsert(self.merchant, result)
            update()
            now = timezone.now()
            if count_page:
                state.pages += 1
                state.orders_seen += len(records)
            state.orders_changed += result.created + result.updated
            if result.created or result.updated:
                state.last_change_at = now
            state.save()
            account_fields = {"lease_until": now + timedelta(seconds=lease_seconds())}
            if cursor:
                account_fields["sync_cursor"] = account.sync_cursor
            AmazonAccount.objects.filter(pk=account.pk).update(**account_fields)
        if count_page:
            report.pages += 1
            report.orders += len(records)
        report.created += result.created
        report.updated += result.updated
        report.events += result.events

    def _save_state(self) -> None:
        with transaction.atomic():
            locked = (
                AmazonAccount.objects.select_for_update()
                .only("lease_owner")
                .get(pk=self.account.pk)
            )
            if locked.lease_owner != self.owner:
                raise LeaseLost()
            self.state.save()

    def _auth_failed(self, exc: AmazonAuthFailed) -> None:
        with transaction.atomic():
            account = AmazonAccount.objects.select_for_update().get(pk=self.account.pk)
            if account.status == AccountStatus.DISCONNECTED:
                return  # disconnected meanwhile: that says more than "authorisation failed"
            was_active = account.status == AccountStatus.ACTIVE
            account.status = AccountStatus.AUTH_FAILED
            account.status_message = (
                f"Amazon refused our authorisation ({exc.message}). Reconnect the account."
            )
            account.save(update_fields=["status", "status_message"])
            AmazonSyncState.objects.filter(pk=self.state.pk).update(
                last_outcome="auth_failed",
                last_error=exc.message,
                last_error_at=timezone.now(),
            )
            if was_active:
                label = account.name or account.selling_partner_id
                notify_merchant(
                    self.merchant,
                    NotificationKind.GENERAL,
                    N_("Amazon account %(label)s: authorisation failed", label=label),
                    N_(
                        "Amazon no longer accepts Keelson's authorisation for this seller account, "
                        "so its orders are not synced. Reconnect the account to resume; nothing is "
                        "lost, the sync continues where it stopped."
                    ),
                )


class _ExpiredToken(Exception):
    pass


def _close_window(state: AmazonSyncState) -> None:
    state.window_start = state.window_end = state.window_position = None
    state.window_token = ""
    state.window_api = Api.V0


def _record_failure(account_id: int, message: str) -> datetime:
    """A failed run keeps cursor and token; the next one comes after a growing pause. The
    account is never turned off: at ``ALERT_AFTER_FAILURES`` failed runs in a row the merchant
    is told once (in the portal, and by e-mail per their preference) that retries go on."""
    now = timezone.now()
    state = AmazonSyncState.objects.filter(account_id=account_id).first()
    failures = (state.failures if state else 0) + 1
    if state is not None:
        AmazonSyncState.objects.filter(pk=state.pk).update(
            failures=failures,
            last_error=message[:2000],
            last_error_at=now,
            last_outcome="failed",
        )
    backoff = min(MAX_BACKOFF, timedelta(seconds=30 * 2 ** min(failures - 1, 10)))
    if failures == alert_after_failures():
        _alert_failing(account_id, failures, message, now + backoff)
    return now + backoff


def alert_after_failures() -> int:
    return max(1, int(getattr(settings, "KEELSON_SYNC_ALERT_AFTER_FAILURES", 5)))


def _alert_failing(account_id: int, failures: int, message: str, next_try: datetime) -> None:
    account = AmazonAccount.objects.filter(pk=account_id).select_related("merchant").first()
    if account is None:
        return
    label = account.name or account.selling_partner_id
    notify_merchant(
        account.merchant,
        NotificationKind.GENERAL,
        N_("Amazon account %(label)s: the order sync keeps failing", label=label),
        N_(
            "The last %(failures)s sync runs of %(label)s failed; the last error: %(message)s "
            "Keelson keeps trying, less often each time (the next try is at %(next_try)s "
            "UTC), and loses nothing: the next run that works picks up every order changed "
            "meanwhile. Nothing for you to do unless this goes on for hours; the dashboard "
            "shows how the sync stands.",
            failures=failures,
            label=label,
            message=message,
            next_try=format(next_try, "%Y-%m-%d %H:%M"),
        ),
    )


# --- Portal actions: "Sync now" and "Re-run backfill" ------------------------------------------
# Services behind the portal's Amazon account actions (tenants/admin.py). They run in the
# request's tenant scope and reuse the scheduler's lease and task (orders.tasks): an account is
# never synced by two workers, and a queued account is not queued twice. The scheduling times
# here (next_sync_at, leases) are on the system clock, like the fan-out's; no Amazon timeline
# depends on them.

MAX_BACKFILL_DAYS = 365


class SyncNotPossible(Exception):
    """The account cannot sync now (not connected, merchant deactivated, bad input). The
    message is for the merchant."""


@dataclass(frozen=True)
class SyncRequest:
    account_id: int
    # queued: a run was queued now; running: a run holds the account (running or queued) and
    # reads every change up to now; scheduled: the queue refused the task, the account is due
    # and the scheduler's next fan-out (within a minute) queues it.
    outcome: str


def _account_label(account: AmazonAccount) -> str:
    return account.name or f"Amazon {account.selling_partner_id}"


def _check_can_sync(account: AmazonAccount) -> None:
    label = _account_label(account)
    if account.status != AccountStatus.ACTIVE:
        reason = {
            AccountStatus.AUTH_FAILED: _(
                "%(account)s cannot sync now: Amazon no longer accepts its authorisation: "
                "reconnect it."
            ),
            AccountStatus.PAUSED: _(
                "%(account)s cannot sync now: its sync is paused: set it to active first."
            ),
            AccountStatus.DISCONNECTED: _(
                "%(account)s cannot sync now: it is disconnected: connect it again first."
            ),
        }.get(account.status, _("%(account)s cannot sync now: its status is %(status)s."))
        raise SyncNotPossible(reason % {"account": label, "status": account.get_status_display()})
    if not Merchant.objects.filter(pk=account.merchant_id, is_active=True).exists():
        raise SyncNotPossible(
            _("%(account)s cannot sync now: its merchant is deactivated.") % {"account": label}
        )


def queue_sync(account_id: int, merchant_id: int, owner: str | None = None) -> bool:
    """Claim the account's lease for a queued task (``owner``'s, if it holds it already) and
    queue one sync run of it: the scheduler's fan-out and "Sync now" both use this. False when
    another worker holds the lease (a run is on its way). If the queue refuses the task, the
    lease is given back with the account due, so the next fan-out takes it."""
    from django_q.tasks import async_task

    owner = owner or new_lease_owner()
    if not claim_lease(account_id, owner, seconds=queued_lease_seconds()):
        return False
    try:
        async_task(
            SYNC_TASK,
            account_id,
            merchant_id,
            owner,
            task_name=f"amazon sync {account_id}",
            group="amazon-sync",
        )
    except Exception:
        release_lease(account_id, owner, timezone.now())
        raise
    return True


def sync_now(account: AmazonAccount) -> SyncRequest:
    """Make the account due at once and queue its sync ("Sync now" in the portal). When a run
    already holds the account (running, or queued by the scheduler), nothing more is needed:
    it reads every change up to now."""
    _check_can_sync(account)
    now = timezone.now()
    AmazonAccount.objects.filter(pk=account.pk).update(next_sync_at=now)
    account.next_sync_at = now
    return SyncRequest(account_id=account.pk, outcome=_queue_or_schedule(account))


def _queue_or_schedule(account: AmazonAccount, owner: str | None = None) -> str:
    try:
        return "queued" if queue_sync(account.pk, account.merchant_id, owner) else "running"
    except Exception:
        logger.exception("could not queue the sync of amazon account %s", account.pk)
        return "scheduled"


def rerun_backfill(account: AmazonAccount, days: int | None = None) -> AmazonSyncState:
    """Restart the backfill lane: re-read the orders Amazon changed in the last ``days``
    (default ``KEELSON_SYNC_BACKFILL_DAYS``) beside the live lane, whose cursor stays where it
    is (new orders keep arriving). Re-reading changes nothing that is already right. Takes the
    account's lease, so no run is writing the sync state meanwhile, then queues a run under the
    same lease so the backfill starts at once."""
    days = default_backfill_days() if days is None else int(days)
    if not 1 <= days <= MAX_BACKFILL_DAYS:
        raise SyncNotPossible(
            _("Choose between 1 and %(MAX_BACKFILL_DAYS)s days to backfill.")
            % {"MAX_BACKFILL_DAYS": MAX_BACKFILL_DAYS}
        )
    _check_can_sync(account)
    owner = new_lease_owner()
    if not claim_lease(account.pk, owner):
        raise SyncNotPossible(
            _("%(account)s is syncing right now; try again in a few minutes.")
            % {"account": _account_label(account)}
        )
    try:
        with transaction.atomic():
            locked = AmazonAccount.objects.select_for_update().get(pk=account.pk)
            state = start_backfill(locked, days)
            AmazonAccount.objects.filter(pk=account.pk).update(next_sync_at=timezone.now())
    except BaseException:
        release_lease(account.pk, owner, None)
        raise
    # The lease passes to the queued run; if queuing fails the account is left due.
    _queue_or_schedule(account, owner)
    return state
