"""Connecting a merchant's Shopify store, testing it, disconnecting it (issue 12).

Connecting reads the shop with the token first ("Test connection"): a wrong token, a domain
that is no shop or a store Shopify has frozen is refused with a plain message and nothing is
saved. Then, in one transaction, the store is saved (the token and the webhook secret
encrypted at rest) and the webhook subscriptions are queued through the outbox
(``shopify.subscribe_webhooks``), so they are made exactly once even if a worker dies.
Disconnecting stops every write to the store and forgets the token.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from foundation.api.errors import DomainError
from integrations.outbox.models import OutboxMessage, OutboxStatus
from integrations.outbox.services import enqueue, retry_message
from integrations.shopify import errors as shopify_errors
from integrations.shopify.gateway import (
    DEFAULT_API_VERSION,
    ShopifyCredentials,
    ShopifyGateway,
)
from integrations.shopify.records import ShopifyShop
from tenants.models import AccountStatus, Merchant, ShopifyStore
from tenants.scope import tenant_context

SUBSCRIBE_WEBHOOKS_KIND = "shopify.subscribe_webhooks"
SHOP_DOMAIN = re.compile(r"^[a-z0-9][a-z0-9-]*\.myshopify\.com$")


class ShopifyConnectionFailed(DomainError):
    code = "shopify_connection_failed"
    status = 422
    title = _("Keelson could not connect to the Shopify store")


class ShopifyStoreAlreadyConnected(DomainError):
    code = "shopify_store_already_connected"
    status = 409
    title = _("This Shopify store is already connected")


class InvalidShopDomain(DomainError):
    code = "validation_error"
    status = 422
    title = _("The shop domain is not valid")


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    shop: ShopifyShop | None = None


def normalise_domain(value: str) -> str:
    domain = (value or "").strip().lower()
    domain = re.sub(r"^https?://", "", domain).split("/", 1)[0]
    if domain and "." not in domain:
        domain = f"{domain}.myshopify.com"
    return domain


def webhook_callback_url(store: ShopifyStore) -> str:
    """Where Shopify delivers this store's webhooks (``KEELSON_PUBLIC_URL`` + our route)."""
    base = settings.KEELSON_PUBLIC_URL.rstrip("/")
    return base + reverse("shopify-webhook", args=[store.pk])


def check_connection(credentials: ShopifyCredentials) -> ConnectionCheck:
    """Read the shop with these credentials: what "Test connection" shows."""
    try:
        shop = ShopifyGateway(credentials, max_throttle_retries=2, timeout=15.0).get_shop()
    except shopify_errors.AuthFailed:
        return ConnectionCheck(
            False,
            _(
                "Shopify refused the access token: check that you copied the Admin API access "
                "token of this store's custom app, and that the app is installed."
            ),
        )
    except shopify_errors.StoreUnavailable as exc:
        return ConnectionCheck(
            False,
            _(
                "Shopify says this store is not available (it may be frozen, locked or not "
                "exist): %(message)s"
            )
            % {"message": exc.message},
        )
    except shopify_errors.ShopifyError as exc:
        return ConnectionCheck(
            False, _("Shopify could not be reached: %(message)s") % {"message": exc.message}
        )
    except ValueError as exc:  # an endpoint the client cannot use
        return ConnectionCheck(False, str(exc))
    return ConnectionCheck(
        True,
        _("Connected to %(shop)s (%(domain)s).") % {"shop": shop.name, "domain": shop.domain},
        shop,
    )


def connect_store(
    *,
    merchant: Merchant,
    shop_domain: str,
    access_token: str,
    webhook_secret: str,
    api_version: str = DEFAULT_API_VERSION,
    endpoint_override: str = "",
) -> ShopifyStore:
    """Connect (or reconnect) a store after reading the shop with its token."""
    domain = normalise_domain(shop_domain)
    if not endpoint_override and not SHOP_DOMAIN.match(domain):
        raise InvalidShopDomain(
            f"“{shop_domain}” is not a Shopify shop domain: use the store's "
            "name.myshopify.com address."
        )
    if not access_token.strip():
        raise ShopifyConnectionFailed(_("Enter the store's Admin API access token."))
    if not webhook_secret.strip():
        raise ShopifyConnectionFailed(
            _("Enter the app's API secret key: Keelson checks every webhook's signature with it.")
        )
    credentials = ShopifyCredentials(
        shop_domain=domain,
        access_token=access_token.strip(),
        api_version=api_version or DEFAULT_API_VERSION,
        endpoint=(endpoint_override or "").rstrip("/"),
        webhook_secret=webhook_secret.strip(),
    )
    check = check_connection(credentials)  # before anything is saved
    if not check.ok:
        raise ShopifyConnectionFailed(check.message)
    with tenant_context(merchant), transaction.atomic():
        store = (
            ShopifyStore.objects.select_for_update()
            .filter(merchant=merchant, shop_domain=domain)
            .first()
        )
        if store is not None and store.status == AccountStatus.ACTIVE:
            raise ShopifyStoreAlreadyConnected(
                _("%(domain)s is already connected to %(merchant)s.")
                % {"domain": domain, "merchant": merchant}
            )
        if store is None:
            store = ShopifyStore(merchant=merchant, shop_domain=domain)
        store.access_token = credentials.access_token
        store.webhook_secret = credentials.webhook_secret
        store.api_version = credentials.api_version
        store.endpoint_override = credentials.endpoint
        store.status = AccountStatus.ACTIVE
        try:
            with transaction.atomic():
                store.save()
        except IntegrityError:  # another request connected it a moment ago
            raise ShopifyStoreAlreadyConnected(
                _("%(domain)s is already connected to %(merchant)s.")
                % {"domain": domain, "merchant": merchant}
            ) from None
        queue_webhook_subscriptions(store)
        resend_what_waited(store)
    return store


def resend_what_waited(store: ShopifyStore) -> int:
    """The store's Shopify writes that failed while it was paused or disconnected (a refused
    token, a store not connected) are sent again, now that it is connected. Returns how many."""
    waiting = OutboxMessage.objects.filter(
        merchant_id=store.merchant_id,
        kind__startswith="shopify.",
        status=OutboxStatus.FAILED,
        payload__store=store.pk,
    ).exclude(kind=SUBSCRIBE_WEBHOOKS_KIND)
    count = 0
    for message in waiting.order_by("id"):
        retry_message(message=message)
        count += 1
    return count


def queue_webhook_subscriptions(store: ShopifyStore) -> None:
    """One outbox message per connection: the subscriptions are made (or found) once."""
    # Each connection is its own request; a retried one finds the store already connected.
    enqueue(
        merchant_id=store.merchant_id,
        kind=SUBSCRIBE_WEBHOOKS_KIND,
        payload={"store": store.pk, "callback_url": webhook_callback_url(store)},
        idempotency_key=f"shopify-webhooks:{store.pk}:{uuid.uuid4()}",
    )


@transaction.atomic
def disconnect_store(store: ShopifyStore) -> ShopifyStore:
    """No write goes to the store any more; the token is forgotten (reconnecting asks for it
    again). Idempotent."""
    locked = ShopifyStore.objects.select_for_update().get(pk=store.pk)
    if locked.status == AccountStatus.DISCONNECTED and not locked.access_token:
        return locked
    locked.status = AccountStatus.DISCONNECTED
    locked.access_token = ""
    locked.save(update_fields=["status", "access_token"])
    return locked
