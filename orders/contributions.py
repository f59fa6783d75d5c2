"""What orders contribute to the apps below them, registered from ``OrdersConfig.ready``: the
order timeline's record of every outbox delivery that concerns an order (F12), and the
Shopify mirror of new Amazon orders (an order-change subscriber: orders/shopify_mirror.py),
paused when Shopify refuses the store's token."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from integrations.outbox import registry as outbox_registry
from integrations.outbox.models import OutboxMessage
from integrations.shopify import inbound as shopify_inbound
from orders import announcements, shopify_mirror
from orders.models import ActorType, EventKind, OrderEvent


def record_delivery_outcome(message: OutboxMessage, text: str, data: dict[str, Any]) -> None:
    """One timeline event per delivery outcome of an order's message (sent, or failed)."""
    if message.order_id is None or not text:
        return
    OrderEvent.objects.create(
        merchant_id=message.merchant_id,
        order_id=message.order_id,
        kind=EventKind.OUTBOX,
        message=text,
        actor_type=ActorType.SYSTEM,
        actor="outbox",
        data=data,
    )


def register() -> None:
    outbox_registry.on_outcome(record_delivery_outcome)
    outbox_registry.on_outcome(shopify_mirror.pause_store_on_revoked_token)
    announcements.subscribe(
        "orders.mirror_to_shopify",
        shopify_mirror.mirror_new_orders,
        when=announcements.IN_TRANSACTION,
        order=300,
        rule="R1",
        description=_("one outbox message per Amazon order to create it in the Shopify store"),
    )
    # Orders made or changed in the store: recorded, nothing to change (Amazon is the record).
    for topic in ("orders/create", "orders/updated"):
        shopify_inbound.register(
            topic, "orders.mirrored_order_webhook", shopify_mirror.on_order_webhook
        )
