"""The split of an Amazon order line's tax between the item and its shipping, when Amazon gave
it as one figure.

Why it matters: a refund goes to Amazon as components (Principal, Tax, Shipping, ShippingTax),
and Amazon refuses a component larger than the buyer paid of it (18034, "exceeds what was
paid"). Orders v0's getOrderItems always gives ItemTax and ShippingTax apart; Orders
2026-01-01's searchOrders (the sync's backfills and large deltas) gives an item's tax as one
TAX breakdown whose ``detailedBreakdowns`` (ITEM, SHIPPING) are optional in Amazon's model.

- **Parsing** (``integrations.amazon.gateway.parsing.parse_item_2026``) marks an item whose TAX
  came without the detail while it has a shipping charge (``tax_split_known`` False): all of
  the tax is held as item tax, and part of it may be the shipping's. Without a shipping charge,
  or without tax, the split is known.
- **The upsert** stores that on the line (``OrderLine.tax_split_pending``), except that a tax
  without its split never replaces a split already known for the line (``orders.policy.
  kept_tax_split``): a later page that again lacks the detail keeps what getOrderItems said.
- **The sync run asks** (``orders.sync``: its ``tax`` lane, beside the backfill and live lanes,
  under the account's lease): one getOrderItems per order with a pending line, newest orders
  first, and ``orders.services.record_tax_split`` stores the answer under the order's lock. It
  uses only getOrderItems tokens beyond the last ``LIVE_RESERVE`` (those stay for the live
  lane's new orders, rule R1, and for refunds waiting), and never waits for one: it yields and
  the next run carries on. An answer that does not give the split (the order still Pending,
  the item missing, Amazon no longer knowing the order) is asked again after
  ``ASK_AGAIN_AFTER``, or as soon as Amazon changes the line. Nothing is lost when a worker
  dies: the work list is the pending lines themselves.
- **A refund never guesses** (``refunds.policy``): while a line's split is pending, a refund
  that would take from that line (its items or its shipping) where tax is added on top of the
  price is refused with ``tax_split_pending``, and the refusal asks at once for that order
  (``orders.services.request_tax_split`` queues ``orders.tasks.resolve_tax_split``, which
  calls ``resolve_order`` here). Where prices include tax, refunds carry no tax components and
  are not held up.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from integrations.amazon.gateway import AmazonGateway, AmazonPermanentError
from integrations.amazon.records import AmazonOrderItem
from orders import amazon_reads, services
from orders.models import Channel, Order, OrderLine
from tenants.models import AccountStatus, AmazonAccount

logger = logging.getLogger(__name__)

# An answer that did not give the split is asked for again after this (sooner when Amazon
# changes the line: the upsert clears the mark; at once when a refund waits for it).
ASK_AGAIN_AFTER = timedelta(hours=1)
# getOrderItems tokens (of its burst of 30) the sync's tax lane leaves untouched.
LIVE_RESERVE = 10


def read_items(gateway: AmazonGateway, amazon_order_id: str) -> tuple[AmazonOrderItem, ...]:
    """getOrderItems (v0) of one order, through the gateway's rate limiter and retries. An
    order Amazon refuses to show (404: no longer known; another 4xx) answers no items: its
    pending lines are then asked about again later. Throttling, transient and authorisation
    errors propagate."""
    try:
        return gateway.get_order_items(amazon_order_id)
    except AmazonPermanentError as exc:
        logger.warning("tax split of amazon order %s: %s", amazon_order_id, exc)
        return ()


def due_before(now: datetime) -> datetime:
    return now - ASK_AGAIN_AFTER


def resolve_order(order_id: int, *, gateway: AmazonGateway | None = None) -> dict:
    """Ask getOrderItems for the split of one order's pending lines now (a refund waits for
    it), inside the merchant's tenant context. Idempotent: nothing is asked once every line's
    split is known. Raises the gateway's errors for throttling or an unavailable Amazon (the
    task is then retried, and the sync asks in its next run anyway)."""
    order = (
        Order.objects.filter(pk=order_id, channel=Channel.AMAZON)
        .select_related("amazon_account")
        .only("id", "external_id", "amazon_account")
        .first()
    )
    if order is None or not OrderLine.objects.filter(order=order, tax_split_pending=True).exists():
        return {"order": order_id, "pending": 0}
    account: AmazonAccount | None = order.amazon_account
    if account is None or account.status != AccountStatus.ACTIVE:
        # Nothing is asked of a disconnected account (R8); the refusal said so.
        return {"order": order_id, "skipped": "account not connected"}
    gateway = gateway or amazon_reads.sync_gateway(account)
    items = read_items(gateway, order.external_id)
    outcome = services.record_tax_split(order.pk, items, now=timezone.now())
    return {"order": order_id, "resolved": outcome.resolved, "unsettled": outcome.unsettled}
