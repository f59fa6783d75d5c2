"""Outbox handlers of the integrations app (registered at start-up, see integrations.apps):

- ``shopify.subscribe_webhooks``: the webhook subscriptions of a connected store, to our
  receiver (``/webhooks/shopify/<store>/``). Idempotent on Shopify's side too: it lists the
  store's subscriptions first and creates only the missing topics.
"""

from __future__ import annotations

from integrations.outbox.errors import PermanentDeliveryError
from integrations.outbox.registry import Handler, register
from integrations.shopify.connections import SUBSCRIBE_WEBHOOKS_KIND
from integrations.shopify.gateway import ShopifyCredentials, ShopifyGateway
from tenants.models import AccountStatus, ShopifyStore


def _subscribe(message) -> dict:
    store = ShopifyStore.objects.filter(pk=message.payload["store"]).first()
    if store is None or store.status != AccountStatus.ACTIVE:
        raise PermanentDeliveryError(
            "The Shopify store is no longer connected.", code="store_disconnected"
        )
    gateway = ShopifyGateway(ShopifyCredentials.from_store(store))
    # Shopify's errors are the outbox's transient and permanent errors already.
    subscriptions = gateway.ensure_webhook_subscriptions(message.payload["callback_url"])
    return {"topics": sorted(s.topic for s in subscriptions)}


register(
    Handler(
        kind=SUBSCRIBE_WEBHOOKS_KIND,
        send=_subscribe,
        destination="Shopify",
        describe_sent=lambda message, result: None,
        describe_failed=lambda message, error: None,
    )
)
