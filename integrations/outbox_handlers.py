"""Outbox handlers of the integrations app (registered at start-up, see integrations.apps):

- ``shopify.subscribe_webhooks``: the webhook subscriptions of a connected store, to our
  receiver (``/webhooks/shopify/<store>/``). Idempotent on Shopify's side too: it lists the
  store's subscriptions first and creates only the missing topics.
"""

from __future__ import annotations

from integrations.outbox.registry import Handler, register
from integrations.shopify import delivery
from integrations.shopify.connections import SUBSCRIBE_WEBHOOKS_KIND
from integrations.shopify.errors import ShopifyError


def _subscribe(message) -> dict:
    store = delivery.store_for_delivery(message.payload["store"])
    # Shopify's errors are the outbox's transient and permanent errors already.
    try:
        subscriptions = delivery.gateway_for_delivery(store).ensure_webhook_subscriptions(
            message.payload["callback_url"]
        )
    except ShopifyError as exc:
        raise delivery.plain_error(exc, store) from exc
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
