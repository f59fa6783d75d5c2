"""The Shopify gateway as the outbox's mirror handlers use it (orders, fulfillments, refunds
and cancellations written to the merchant's store), and what they share: finding the store,
the admin URL of an order, and Shopify's errors told in plain words.

One attempt per delivery, apart from the gateway's own bounded waits for THROTTLED answers:
the outbox owns the retries with back-off (every Shopify error already is the outbox's
``TransientDeliveryError`` or ``PermanentDeliveryError``, see ``errors.py``).
"""

from __future__ import annotations

from django.conf import settings

from integrations.outbox.errors import DeliveryError, PermanentDeliveryError
from integrations.shopify.errors import (
    AuthFailed,
    ShopifyUserErrors,
    StoreUnavailable,
    Throttled,
    TransientShopifyError,
)
from integrations.shopify.gateway import ShopifyCredentials, ShopifyGateway
from tenants.models import AccountStatus, Merchant, ShopifyStore

DESTINATION = "Shopify"


# A store Shopify refused our token for is paused, not gone: its writes are still queued (and
# wait, failed, in the outbox) so that reconnecting it sends them; nothing is lost meanwhile.
MIRRORED_STATUSES = (AccountStatus.ACTIVE, AccountStatus.AUTH_FAILED)
AUTH_FAILURE_CODES = frozenset({"shopify_auth_failed", "shopify_access_denied"})


def active_store(merchant_id: int) -> ShopifyStore | None:
    """The merchant's connected store that Amazon orders are mirrored to (the first one
    connected, when there are several; a paused one included), or None."""
    return (
        ShopifyStore.objects.filter(merchant_id=merchant_id, status__in=MIRRORED_STATUSES)
        .order_by("id")
        .first()
    )


def store_for_delivery(store_id: int) -> ShopifyStore:
    """The message's store; a permanent failure in plain words when it is gone or not
    connected (the mirror pauses: nothing is written to a disconnected store)."""
    store = ShopifyStore.objects.filter(pk=store_id).first()
    if store is None:
        raise PermanentDeliveryError(
            "The Shopify store this was meant for is no longer connected.",
            code="shopify_store_gone",
        )
    merchant = Merchant.objects.get(pk=store.merchant_id)
    if not merchant.is_active:
        raise PermanentDeliveryError(
            f"The merchant {merchant.name} is deactivated: nothing is written to its Shopify "
            "store.",
            code="merchant_inactive",
        )
    if store.status != AccountStatus.ACTIVE:
        raise PermanentDeliveryError(
            f"The Shopify store {store.shop_domain} is {store.get_status_display().lower()}: "
            "nothing is written to it until it is connected again (then retry this message).",
            code="shopify_store_not_connected",
        )
    return store


def gateway_for_delivery(store: ShopifyStore) -> ShopifyGateway:
    return ShopifyGateway(
        ShopifyCredentials.from_store(store),
        timeout=float(getattr(settings, "KEELSON_SHOPIFY_TIMEOUT", 30.0)),
        max_throttle_retries=int(getattr(settings, "KEELSON_SHOPIFY_THROTTLE_RETRIES", 5)),
        max_wait=float(getattr(settings, "KEELSON_SHOPIFY_MAX_THROTTLE_WAIT", 30.0)),
    )


def admin_url(store: ShopifyStore, order_id: str) -> str:
    """The order's page in the store's admin (``gid://shopify/Order/12`` -> ``.../orders/12``)."""
    number = order_id.rsplit("/", 1)[-1]
    return f"https://{store.shop_domain}/admin/orders/{number}"


def plain_words(error: DeliveryError, store: ShopifyStore | None = None) -> str:
    """What went wrong, for the merchant (the order page, the outbox list)."""
    where = f"the Shopify store {store.shop_domain}" if store else "the Shopify store"
    if isinstance(error, AuthFailed):
        return (
            f"Shopify refused Keelson's access token for {where} (HTTP {error.status or 401}): "
            "the token was revoked or lacks a permission. Reconnect the store with a new Admin "
            "API access token, then retry."
        )
    if isinstance(error, StoreUnavailable):
        return (
            f"{where[0].upper()}{where[1:]} is unavailable (HTTP {error.status}: frozen, locked "
            "or not found). Nothing was written; retry once the store is available."
        )
    if isinstance(error, ShopifyUserErrors):
        messages = "; ".join(e.message for e in error.user_errors) or str(error)
        return f"Shopify refused the request ({error.operation}): {messages}"
    if isinstance(error, Throttled):
        return "Shopify is busy (rate limit): Keelson tries again shortly."
    if isinstance(error, TransientShopifyError):
        return f"Shopify could not be reached or answered with an error ({error.message})."
    return error.message


def plain_error(error: DeliveryError, store: ShopifyStore | None = None) -> DeliveryError:
    """``error`` with its message in plain words; the same class (transient or permanent),
    code and retry_after, so the outbox treats it the same way."""
    error.message = plain_words(error, store)
    error.args = (error.message,)
    return error
