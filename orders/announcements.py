"""Orders announce what changed; the apps above listen.

After each committed change set from Amazon (one page of the poll lane, one batch of the push
lane: ``orders.services.after_amazon_upsert``), orders publish one ``OrderChangeSet``. Apps
above orders (fulfillment, refunds, later the Shopify mirror) subscribe in their
``AppConfig.ready`` with a named handler; orders never import them. Each subscriber says

- when it runs: ``IN_TRANSACTION`` (inside the upsert's transaction and tenant scope, so its
  writes commit or roll back with the orders: a rule that must hold with the order, e.g. F2's
  fulfillment orders) or ``ON_COMMIT`` (after the transaction committed: queueing work that
  must not see rolled-back orders, e.g. R6's Finances check);
- its place (``order``: lower runs first; ties by name), so the sequence is defined, not the
  accident of import order;
- the rule that requires it (shown by ``describe()`` and in docs/architecture.md).

A subscriber that raises inside the transaction rolls the whole change set back (the sync
retries the page); an ``ON_COMMIT`` subscriber that raises is logged and does not undo the
committed orders, nor stop the others.

Adding one::

    # myapp/apps.py
    def ready(self):
        from orders import announcements
        from myapp.subscribers import on_order_changes

        announcements.subscribe(
            "myapp.mirror", on_order_changes, when=announcements.ON_COMMIT, order=300, rule="R1"
        )
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from tenants.scope import tenant_context

logger = logging.getLogger(__name__)

IN_TRANSACTION = "in_transaction"
ON_COMMIT = "on_commit"
WHEN = (IN_TRANSACTION, ON_COMMIT)


@dataclass(frozen=True)
class OrderChangeSet:
    """What one committed upsert changed, for one merchant. Ids are Keelson order ids."""

    merchant_id: int
    # Created or changed (every other list is a subset of this one).
    changed_order_ids: tuple[int, ...] = ()
    # First seen in this change set.
    new_order_ids: tuple[int, ...] = ()
    # Known before, Canceled now (Amazon or the buyer cancelled it).
    newly_cancelled_order_ids: tuple[int, ...] = ()
    # Known before, Shipped now (every item shipped, as Amazon reports it).
    newly_shipped_order_ids: tuple[int, ...] = ()
    # The buyer asked Amazon to cancel (B1), first seen in this change set.
    new_buyer_cancel_order_ids: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changed_order_ids)


Handler = Callable[[OrderChangeSet], object]


@dataclass(frozen=True)
class Subscriber:
    name: str
    handler: Handler
    when: str
    order: int
    rule: str
    description: str = field(default="")


_subscribers: dict[str, Subscriber] = {}
_lock = threading.Lock()


def subscribe(
    name: str,
    handler: Handler,
    *,
    when: str,
    order: int,
    rule: str,
    description: str = "",
) -> None:
    """Register ``handler`` under ``name`` (once: registering the same name again with another
    handler is a programming error, caught at start-up)."""
    if when not in WHEN:
        raise ValueError(f"when must be one of {WHEN}, not {when!r}")
    subscriber = Subscriber(name, handler, when, order, rule, description)
    with _lock:
        existing = _subscribers.get(name)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"an order-change subscriber named {name!r} is already registered")
        _subscribers[name] = subscriber


def subscribers() -> list[Subscriber]:
    """Every subscriber, in the order they run."""
    return sorted(_subscribers.values(), key=lambda s: (s.order, s.name))


def describe() -> list[str]:
    return [f"{s.order:>4} {s.when:<14} {s.name} ({s.rule})" for s in subscribers()]


def announce(changes: OrderChangeSet) -> None:
    """Run the subscribers for ``changes``: the in-transaction ones now, in order, the others
    after the surrounding transaction commits (at once if there is none)."""
    if not changes:
        return
    for subscriber in subscribers():
        if subscriber.when == IN_TRANSACTION:
            subscriber.handler(changes)
        else:
            transaction.on_commit(_after_commit(subscriber, changes))


def _after_commit(subscriber: Subscriber, changes: OrderChangeSet) -> Callable[[], None]:
    def run() -> None:
        try:
            # The transaction's scope is gone after commit: run in the merchant's.
            with tenant_context(changes.merchant_id):
                subscriber.handler(changes)
        except Exception:
            logger.exception(
                "order-change subscriber %s failed for merchant %s",
                subscriber.name,
                changes.merchant_id,
            )

    return run
