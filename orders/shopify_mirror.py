"""Mirror out, for orders (issue 12; rules R1, R4): each Amazon order of a merchant with a
connected Shopify store is created once in that store, tagged and sourced as Amazon, without
a word to the buyer.

- **Trigger.** An ``orders.announcements`` subscriber (``IN_TRANSACTION``, registered from
  ``orders.contributions``): for every order of the change set that Amazon has verified (not
  Pending: A1/A2 orders may still be cancelled without a charge) and that is not mirrored yet,
  one outbox message ``shopify.create_order`` in the upsert's own transaction, keyed per order
  and store, so a second announcement of the same order never enqueues a second message. An
  order Amazon cancelled before verifying it is never mirrored.
- **Delivery** (``orders/outbox_handlers.py``): look the order up by its source identifier
  (the Amazon order id) first and create it only if absent, so a retry after a timeout, a
  killed worker or a second worker never makes a second Shopify order. The Shopify id, name
  and admin URL are stored by ``record_mirrored`` in the transaction of the outbox's ack.
- **Failure.** Transient errors (5xx, timeouts, THROTTLED beyond the gateway's waits) are
  retried by the outbox with back-off; a permanent one (401, a frozen store, Shopify refusing
  the order) sets the order's state ``failed`` with the reason in plain words, and the message
  is listed as failed in the portal's outbox, with a retry action.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from foundation.text import N_
from integrations.amazon.marketplaces import marketplace
from integrations.models import ShopifyWebhookReceipt
from integrations.outbox.errors import (
    DeliveryError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from integrations.outbox.models import OutboxMessage
from integrations.outbox.services import enqueue
from integrations.shopify.delivery import AUTH_FAILURE_CODES, active_store
from integrations.shopify.gateway import ShopifyGateway
from integrations.shopify.records import NewOrder, NewOrderLine, ShopifyAddress, ShopifyOrder
from notifications.models import NotificationKind
from notifications.services import notify_merchant
from orders.announcements import OrderChangeSet
from orders.models import (
    AmazonOrderStatus,
    Channel,
    FinancialStatus,
    FulfillmentChannel,
    Order,
    ShopifyState,
)
from tenants.models import Merchant, ShopifyInventoryBehaviour, ShopifyStore
from tenants.services import pause_shopify_store

CREATE_ORDER_KIND = "shopify.create_order"

# Statuses in which Amazon has verified the payment (A2, A3): the order is real and stays.
MIRRORED_STATUSES = frozenset(
    {
        AmazonOrderStatus.UNSHIPPED,
        AmazonOrderStatus.PARTIALLY_SHIPPED,
        AmazonOrderStatus.SHIPPED,
        AmazonOrderStatus.INVOICE_UNCONFIRMED,
    }
)
CHARGED = frozenset(
    {FinancialStatus.PAID, FinancialStatus.PARTIALLY_REFUNDED, FinancialStatus.REFUNDED}
)
CENT = Decimal("0.01")


def create_order_key(order_id: int, store_id: int) -> str:
    return f"shopify-create-order-{order_id}-store-{store_id}"


def mirror_new_orders(changes: OrderChangeSet) -> list[int]:
    """The announcement subscriber: enqueue the mirror of each order of ``changes`` that is
    ready for it. Runs in the upsert's transaction and tenant scope. Returns the order ids
    enqueued now."""
    if not changes.changed_order_ids:
        return []
    store = active_store(changes.merchant_id)
    if store is None:
        return []
    orders = list(
        Order.objects.filter(
            pk__in=changes.changed_order_ids,
            channel=Channel.AMAZON,
            status__in=MIRRORED_STATUSES,
            shopify_state=ShopifyState.NOT_APPLICABLE,
        ).only("id", "merchant_id")
    )
    return [order.pk for order in orders if enqueue_mirror(order, store)]


def enqueue_mirror(order: Order, store: ShopifyStore) -> bool:
    """One outbox message for the order and store (idempotent); the order becomes pending.
    Returns whether a message was made now."""
    enqueue(
        merchant_id=order.merchant_id,
        kind=CREATE_ORDER_KIND,
        payload={"order": order.pk, "store": store.pk},
        idempotency_key=create_order_key(order.pk, store.pk),
        order_id=order.pk,
    )
    changed = Order.objects.filter(pk=order.pk, shopify_state=ShopifyState.NOT_APPLICABLE).update(
        shopify_state=ShopifyState.PENDING, shopify_last_error="", updated_at=timezone.now()
    )
    return bool(changed)


# --- what is sent ----------------------------------------------------------------------------


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _address(data: dict) -> ShopifyAddress | None:
    if not data:
        return None
    name = (data.get("Name") or "").strip()
    first, _sep, last = name.rpartition(" ")
    region = (data.get("StateOrRegion") or "").strip()
    return ShopifyAddress(
        first_name=first,
        last_name=last or name,
        address1=data.get("AddressLine1") or "",
        address2=" ".join(filter(None, (data.get("AddressLine2"), data.get("AddressLine3")))),
        city=data.get("City") or "",
        province_code=region if 0 < len(region) <= 3 else "",
        zip=data.get("PostalCode") or "",
        country_code=data.get("CountryCode") or "",
        phone=data.get("Phone") or "",
    )


def tags_for(order: Order) -> tuple[str, ...]:
    known = marketplace(order.marketplace_id)
    tags = ["amazon", known.name if known else order.marketplace_id or "Amazon"]
    if order.fulfillment_channel == FulfillmentChannel.AFN:
        tags.append("fba")
    if order.is_prime:
        tags.append("prime")
    return tuple(dict.fromkeys(t for t in tags if t))


def new_order(order: Order, store: ShopifyStore) -> NewOrder:
    """The Shopify order for an Amazon order. Prices are what the buyer paid Amazon, tax
    included (Amazon collected it), so Shopify's total is Amazon's; a paid transaction when
    Amazon charged the order; never the buyer's e-mail address (R4: Shopify must not write to
    an Amazon buyer, and the address is Amazon's relay)."""
    lines = []
    shipping = Decimal("0")
    for line in order.lines.order_by("id"):
        shipping += line.shipping_price + line.shipping_tax
        if line.quantity_ordered <= 0:
            continue
        paid = line.item_price + line.item_tax - line.promotion_discount
        lines.append(
            NewOrderLine(
                sku=line.sku or line.asin or line.external_id,
                title=line.title or line.sku,
                quantity=line.quantity_ordered,
                unit_price=_cents(max(paid, Decimal("0")) / line.quantity_ordered),
            )
        )
    known = marketplace(order.marketplace_id)
    inventory = store.inventory_behaviour
    if order.fulfillment_channel == FulfillmentChannel.AFN:
        # Amazon ships these from its own warehouse: the store's stock is not touched (R5).
        inventory = ShopifyInventoryBehaviour.BYPASS
    return NewOrder(
        source_identifier=order.external_id,
        source_name="amazon",
        currency=order.currency,
        lines=tuple(lines),
        tags=tags_for(order),
        shipping_amount=_cents(shipping),
        shipping_title=order.ship_service_level or "Amazon shipping",
        paid_amount=None if order.financial_status in CHARGED else Decimal("0"),
        payment_gateway="amazon",
        note=f"Amazon order {order.external_id} on {known.name if known else 'Amazon'}, "
        "mirrored by Keelson. Amazon notifies the buyer; this store does not.",
        processed_at=order.purchase_date,
        shipping_address=_address(order.shipping_address or {}),
        inventory_behaviour=str(inventory),
    )


# --- outcomes (in the outbox's transaction) --------------------------------------------------


def record_mirrored(order_id: int, *, shopify_order_id: str, name: str, admin_url: str) -> None:
    with transaction.atomic():
        Order.objects.filter(pk=order_id).update(
            shopify_state=ShopifyState.SYNCED,
            shopify_order_id=shopify_order_id,
            shopify_order_name=name,
            shopify_admin_url=admin_url,
            shopify_last_error="",
            updated_at=timezone.now(),
        )


def record_mirror_failed(order_id: int, error: DeliveryError) -> None:
    with transaction.atomic():
        Order.objects.filter(pk=order_id).exclude(shopify_state=ShopifyState.SYNCED).update(
            shopify_state=ShopifyState.FAILED,
            shopify_last_error=error.message,
            updated_at=timezone.now(),
        )


# --- what the mirrors of fulfillments, refunds and cancellations share ------------------------

# Orders whose twin in the store exists or is on its way: their fulfillments, refunds and
# cancellations belong in the store too.
MIRROR_STATES = (ShopifyState.PENDING, ShopifyState.SYNCED)
# How long a write waits for its order to be created in the store before trying again.
ORDER_NOT_MIRRORED_RETRY_SECONDS = 30.0


def order_in_store(
    order: Order, store: ShopifyStore, gateway: ShopifyGateway, *, what: str
) -> ShopifyOrder:
    """The order's twin in the store, read fresh (an earlier attempt's writes show in it).
    ``what`` names the write waiting for it ("the refund"). Not created yet: a transient
    failure, retried; gone from the store: a permanent one."""
    if not order.shopify_order_id:
        raise TransientDeliveryError(
            f"The order is not in the Shopify store {store.shop_domain} yet: {what} is "
            "written once it is.",
            code="shopify_order_not_mirrored",
            retry_after=ORDER_NOT_MIRRORED_RETRY_SECONDS,
        )
    mirrored = gateway.get_order(order.shopify_order_id)
    if mirrored is None:
        raise PermanentDeliveryError(
            f"The order {order.shopify_order_name or order.shopify_order_id} is no longer "
            f"in the Shopify store {store.shop_domain}.",
            code="shopify_no_order",
        )
    return mirrored


# --- webhooks about mirrored orders ------------------------------------------------------------


def order_for_webhook(store: ShopifyStore, shopify_order_id: object) -> Order | None:
    """The Amazon order a Shopify webhook is about: the one mirrored as that Shopify order in
    this store's merchant (a webhook carries the numeric id; we store the global id)."""
    if shopify_order_id in (None, ""):
        return None
    value = str(shopify_order_id)
    gid = value if value.startswith("gid://") else f"gid://shopify/Order/{value}"
    return (
        Order.objects.filter(merchant_id=store.merchant_id, shopify_order_id=gid)
        .order_by("id")
        .first()
    )


def on_order_webhook(receipt: ShopifyWebhookReceipt) -> str:
    """``orders/create`` and ``orders/updated``: Keelson mirrors Amazon orders into the store
    and Amazon stays their record, so these change nothing here; the receipt says which order
    it was about and why nothing changed (never a silent drop)."""
    payload = receipt.payload
    label = payload.get("name") or payload.get("id")
    order = order_for_webhook(receipt.store, payload.get("id"))
    if order is None and payload.get("source_name") == "amazon":
        order = (
            Order.objects.filter(
                merchant_id=receipt.store.merchant_id,
                channel=Channel.AMAZON,
                external_id=payload.get("source_identifier") or "",
            )
            .order_by("id")
            .first()
        )
    if order is None:
        return (
            f"Shopify order {label} was made in the store, not mirrored from Amazon: Keelson "
            "leaves it to Shopify."
        )
    if receipt.topic == "orders/create":
        return f"Shopify order {label} is Keelson's mirror of Amazon order {order.external_id}."
    return (
        f"Shopify order {label} (Amazon order {order.external_id}) changed in Shopify: Amazon "
        "stays the record of the order, so nothing changes in Keelson."
    )


# --- a revoked token pauses the store ---------------------------------------------------------


def pause_store_on_revoked_token(message: OutboxMessage, text: str, data: dict) -> None:
    """An outbox listener: when Shopify refuses a store's token (401/403), the store is marked
    so (its writes keep being queued, and wait in the outbox) and the merchant is told once to
    reconnect it; reconnecting sends what waited (``integrations.shopify.connections``)."""
    if not message.kind.startswith("shopify.") or data.get("outcome") != "failed":
        return
    if data.get("code") not in AUTH_FAILURE_CODES:
        return
    store = pause_shopify_store((message.payload or {}).get("store"))
    if store is None:
        return  # already paused (or disconnected): told once
    notify_merchant(
        Merchant.objects.get(pk=store.merchant_id),
        NotificationKind.GENERAL,
        N_("Reconnect your Shopify store %(shop_domain)s", shop_domain=store.shop_domain),
        N_(
            "Shopify refused Keelson's access token (it was revoked, or the app lost a "
            "permission). Nothing is lost: orders, fulfillments and refunds for the store wait in "
            "Keelson and are written to it as soon as you connect it again with a new Admin API "
            "access token (Merchants and access > Shopify stores > Add)."
        ),
    )


# --- reconcile: what the announcements missed ---------------------------------------------------

RECONCILE_BATCH = 500

# What each app above orders repairs in a merchant's store (fulfillments, refunds), registered
# from its contributions: ``reconciler(merchant_id)`` queues what is missing, in the merchant's
# scope, and returns how many it queued. Orders run first, so what the others queue finds the
# order's mirror on its way.
Reconciler = Callable[[int], int]
_reconcilers: dict[str, Reconciler] = {}


def register_reconciler(name: str, reconciler: Reconciler) -> None:
    _reconcilers[name] = reconciler


def reconcile_merchant(merchant_id: int) -> dict[str, int]:
    """Queue what the merchant's Shopify store lacks: its orders first, then each registered
    part. Returns the counts queued per part (only the parts that queued something)."""
    counts = {"orders": reconcile_orders(merchant_id)}
    for name, reconciler in sorted(_reconcilers.items()):
        counts[name] = reconciler(merchant_id)
    return {name: count for name, count in counts.items() if count}


def reconcile_orders(merchant_id: int, *, limit: int = RECONCILE_BATCH) -> int:
    """The merchant's Amazon orders that should be in its Shopify store and were never queued
    (placed before the store was connected, or while it was disconnected) are queued now, once
    each (the same idempotency key as the announcement's). Run in the merchant's scope.
    Returns how many were queued."""
    store = active_store(merchant_id)
    if store is None:
        return 0
    with transaction.atomic():
        orders = list(
            Order.objects.filter(
                merchant_id=merchant_id,
                channel=Channel.AMAZON,
                status__in=MIRRORED_STATUSES,
                shopify_state=ShopifyState.NOT_APPLICABLE,
            )
            .order_by("purchase_date", "id")
            .only("id", "merchant_id")[:limit]
        )
        return sum(1 for order in orders if enqueue_mirror(order, store))
