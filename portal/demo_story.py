"""The Keelson side of the demo's story. Once a merchant's month of Amazon orders is in (the
backfill finished), its admin has worked some of them the way people do, through the use cases
the portal calls (nothing is written to a table directly): shipped the oldest few (A7, confirmed
on Amazon through the outbox with the same ship date, R3), handed two to the fulfillment
service where the merchant has one (F1: the demo's bot accepts and ships them), and cancelled
one for lack of stock with its refund (R7). What is left, the Unshipped orders, those a few days
from Amazon's deadline and the buyers' cancellation requests, is for the person trying the demo.

Played once per merchant: a merchant whose admin already acted on an order is left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db import close_old_connections

from foundation import clock
from fulfillment import services as fulfillment_services
from fulfillment.selectors import active_locations
from fulfillment.services import ShipmentInput
from orders.models import (
    AmazonOrderStatus,
    AmazonSyncState,
    Channel,
    FulfillmentChannel,
    Order,
    OrderEvent,
    ShipmentConfirmation,
)
from portal.demo_amazon import CARRIERS
from portal.demo_data import USERS, merchant_spec
from refunds import services as refund_services
from refunds.policy import CancelReason, suggested_cancellation_refund
from refunds.selectors import order_money
from tenants.models import Merchant, User
from tenants.scope import tenant_context

logger = logging.getLogger(__name__)

SHIPPED = 2  # orders the merchant shipped and confirmed on Amazon
REQUESTED = 2  # orders handed to the fulfillment service, where there is one


@dataclass
class Played:
    merchant: str
    shipped: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    skipped: str = ""


def merchant_admin(slug: str) -> User:
    username = next(u.username for u in USERS if u.merchant == slug and u.role == "merchant_admin")
    return User.objects.get(username=username)


def backfill_finished(merchant: Merchant) -> bool:
    with tenant_context(merchant):
        return AmazonSyncState.objects.filter(
            merchant=merchant, backfill_finished_at__isnull=False
        ).exists()


def workable_orders(merchant: Merchant) -> list[Order]:
    """Unshipped orders the merchant ships itself, oldest first, leaving out those the story
    keeps for the visitor: a buyer asked to cancel (B1), or Amazon's deadline is near (A9)."""
    # Amazon's timelines run on the product's clock (the emulator's, in the demo).
    safe_until = clock.now() + timedelta(days=merchant.deadline_warning_days + 1)
    with tenant_context(merchant):
        return list(
            Order.objects.filter(
                merchant=merchant,
                channel=Channel.AMAZON,
                fulfillment_channel=FulfillmentChannel.MFN,
                status=AmazonOrderStatus.UNSHIPPED,
                buyer_cancel_requested=False,
                shipment_confirmation=ShipmentConfirmation.NONE,
                confirm_by__gt=safe_until,
            ).order_by("purchase_date", "id")
        )


def play(slug: str) -> Played:
    """Work some of the merchant's orders as its admin would (see the module's docstring)."""
    merchant = Merchant.objects.get(slug=slug)
    user = merchant_admin(slug)
    played = Played(merchant.name)
    with tenant_context(merchant):
        if OrderEvent.objects.filter(merchant=merchant, actor_user=user).exists():
            played.skipped = "already played"
            return played
        orders = workable_orders(merchant)
        carrier = CARRIERS.get(merchant_spec(slug).marketplace, "DHL")

        to_ship, rest = orders[:SHIPPED], orders[SHIPPED:]
        actor = fulfillment_services.Actor.user(user)
        for n, order in enumerate(to_ship):
            shipment = ShipmentInput(
                tracking_number=f"DEMO{merchant.pk:02d}{order.pk:08d}{n}", carrier=carrier
            )
            result = fulfillment_services.confirm_shipments(
                [order.pk], actor=actor, shipment=shipment
            )
            if order.external_id not in result.skipped:
                played.shipped.append(order.external_id)
        if active_locations([merchant.pk]):
            for order in rest[:REQUESTED]:
                fulfillment_services.request_fulfillment(
                    order, actor=actor, note="Gift wrap if you can."
                )
                played.requested.append(order.external_id)
            rest = rest[REQUESTED:]
        if rest:
            order = rest[-1]  # the newest: the stock ran out after it was ordered
            # R7: the refund the portal suggests, all the buyer paid
            refund = suggested_cancellation_refund(order_money(order), None)
            refund_services.cancel_order(
                order,
                actor=refund_services.Actor.user(user),
                reason=CancelReason.NO_INVENTORY,
                refund=refund,
                note="Out of stock until next month.",
            )
            played.cancelled.append(order.external_id)
    return played


def play_when_ready(
    slugs: list[str],
    *,
    timeout: float = 300,
    poll: float = 2.0,
    report: Callable[[str], object] = logger.info,
) -> list[Played]:
    """For ``manage.py demo`` (in a thread): wait for each merchant's backfill, then play its
    part. A merchant whose backfill does not finish in ``timeout`` seconds is left as it is."""
    deadline = time.monotonic() + timeout
    waiting = list(slugs)
    done: list[Played] = []
    try:
        while waiting and time.monotonic() < deadline:
            for slug in list(waiting):
                merchant = Merchant.objects.get(slug=slug)
                if not backfill_finished(merchant):
                    continue
                waiting.remove(slug)
                try:
                    played = play(slug)
                except Exception:  # the demo goes on without this merchant's part
                    logger.exception("the demo story of %s failed", slug)
                    continue
                done.append(played)
                if not played.skipped:
                    report(
                        f"Demo story: {played.merchant}: shipped {len(played.shipped)}, "
                        f"sent {len(played.requested)} to the fulfillment service, "
                        f"cancelled {len(played.cancelled)}."
                    )
            if waiting:
                time.sleep(poll)
    finally:
        close_old_connections()
    return done
