"""Outbox handlers of the orders app (registered at start-up, see integrations.apps):

- ``amazon.subscribe_order_changes``: the account's ORDER_CHANGE notifications to our SQS queue
  (``orders/order_changes.py``): the application's destination for the queue, then the seller's
  subscription. Idempotent on Amazon's side too: a resent message finds both in place.
- ``shopify.create_order``: the order's mirror in the merchant's Shopify store
  (``orders/shopify_mirror.py``): looked up by source identifier first, created only if absent;
  the Shopify id stored in the ack's transaction.
"""

from __future__ import annotations

from integrations.amazon.delivery import gateway_for_delivery
from integrations.amazon.gateway import AmazonAuthFailed, AmazonError, AmazonPermanentError
from integrations.amazon.queue import address
from integrations.outbox.errors import PermanentDeliveryError, TransientDeliveryError
from integrations.outbox.registry import Handler, register
from integrations.shopify import delivery as shopify_delivery
from integrations.shopify.errors import ShopifyError
from orders import order_changes, shopify_mirror
from orders.models import Order
from tenants.models import AmazonAccount


def _subscribe(message) -> dict:
    payload = message.payload
    account = AmazonAccount.objects.filter(pk=payload["account"]).first()
    if account is None:
        raise PermanentDeliveryError("The Amazon account is gone.", code="no_account")
    queue_arn = address(payload["queue_url"]).arn
    try:
        subscription_id = gateway_for_delivery(account).ensure_subscription(
            order_changes.ORDER_CHANGE, queue_arn, order_changes.DESTINATION_NAME
        )
    except (AmazonPermanentError, AmazonAuthFailed) as exc:
        raise PermanentDeliveryError(
            f"Amazon refused the ORDER_CHANGE subscription: {exc.message}",
            code=exc.code or "amazon_refused",
        ) from exc
    except AmazonError as exc:  # throttled or unavailable: the outbox retries with backoff
        raise TransientDeliveryError(
            f"Amazon: {exc.message}",
            code=exc.code or "amazon_unavailable",
            retry_after=getattr(exc, "retry_after", None),
        ) from exc
    return {"account": account.pk, "subscription_id": subscription_id, "queue_arn": queue_arn}


def _subscribed(message, result: dict) -> None:
    order_changes.record_subscription(
        result["account"], result["subscription_id"], result["queue_arn"]
    )


register(
    Handler(
        kind=order_changes.SUBSCRIBE_KIND,
        send=_subscribe,
        destination="Amazon",
        on_sent=_subscribed,
    )
)


# --- the Shopify mirror ----------------------------------------------------------------------


def _mirror(message) -> dict:
    store = shopify_delivery.store_for_delivery(int(message.payload["store"]))
    order = Order.objects.filter(pk=message.payload["order"]).first()
    if order is None:
        raise PermanentDeliveryError("The order is gone.", code="no_order")
    gateway = shopify_delivery.gateway_for_delivery(store)
    try:
        # Look up first: a first attempt may have created it and then timed out (or its
        # worker was killed before the ack); Shopify keeps the Amazon id as sourceIdentifier.
        existing = gateway.find_order_by_source_identifier(order.external_id, summary=True)
        if existing is not None:
            shopify_id, name, found = existing.id, existing.name, True
        else:
            shopify_id, name = gateway.create_order_named(shopify_mirror.new_order(order, store))
            found = False
    except ShopifyError as exc:
        shopify_delivery.plain_error(exc, store)
        raise
    return {
        "shopify_order_id": shopify_id,
        "name": name,
        "admin_url": shopify_delivery.admin_url(store, shopify_id),
        "store": store.shop_domain,
        "found_existing": found,
    }


def _mirrored(message, result: dict) -> None:
    shopify_mirror.record_mirrored(
        int(message.payload["order"]),
        shopify_order_id=result["shopify_order_id"],
        name=result["name"],
        admin_url=result["admin_url"],
    )


def _describe_mirrored(message, result: dict) -> str:
    how = "found it already there" if result.get("found_existing") else "created it"
    return (
        f"Mirrored to the Shopify store {result['store']} as {result['name'] or 'an order'} "
        f"(Keelson {how}; the buyer was not notified, R4)."
    )


register(
    Handler(
        kind=shopify_mirror.CREATE_ORDER_KIND,
        send=_mirror,
        destination=shopify_delivery.DESTINATION,
        on_sent=_mirrored,
        on_failed=lambda message, error: shopify_mirror.record_mirror_failed(
            int(message.payload["order"]), error
        ),
        describe_sent=_describe_mirrored,
        describe_failed=lambda message, error: (
            f"Not created in Shopify after {message.attempts} attempt(s): {error.message}"
        ),
    )
)
