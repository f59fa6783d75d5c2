"""The demo's Shopify: Hamn & Hem (Stockholm, SEK) has a store in the Shopify emulator, connected to
Keelson like a real one (only the Admin API endpoint differs): the shop is read with the token,
the token is stored encrypted, the webhooks are subscribed through the outbox. Idempotent: a
store already connected is left as it is."""

from __future__ import annotations

from integrations.shopify.connections import connect_store
from portal.demo_data import merchant_spec
from sandbox.amazon.control import SandboxControlError
from sandbox.shopify.control import ShopifySandboxClient
from tenants.models import AccountStatus, Merchant, ShopifyStore
from tenants.scope import tenant_context

DEMO_SHOPIFY_MERCHANT = "hamn-och-hem"
DEMO_SHOPIFY_DOMAIN = "hamn-och-hem.myshopify.com"


def connect_demo_shopify_store(sandbox_url: str) -> str:
    """Create the demo store in the emulator (if needed) and connect it; returns its domain."""
    control = ShopifySandboxClient(sandbox_url)
    try:
        store = control.store(DEMO_SHOPIFY_DOMAIN)
    except SandboxControlError as exc:
        if exc.status != 404:
            raise
        spec = merchant_spec(DEMO_SHOPIFY_MERCHANT)
        store = control.create_store(
            domain=DEMO_SHOPIFY_DOMAIN,
            name=spec.name,
            currency_code=spec.currency,
            iana_timezone=spec.time_zone,
        )
    merchant = Merchant.objects.get(slug=DEMO_SHOPIFY_MERCHANT)
    with tenant_context(merchant):
        connected = ShopifyStore.objects.filter(
            shop_domain=DEMO_SHOPIFY_DOMAIN, status=AccountStatus.ACTIVE
        ).first()
        if connected is not None and connected.endpoint_override == sandbox_url:
            return DEMO_SHOPIFY_DOMAIN
        if connected is not None:  # the emulator restarted on another port: connect again
            ShopifyStore.objects.filter(pk=connected.pk).update(status=AccountStatus.DISCONNECTED)
        connect_store(
            merchant=merchant,
            shop_domain=DEMO_SHOPIFY_DOMAIN,
            access_token=store["access_token"],
            webhook_secret=store["client_secret"],
            endpoint_override=sandbox_url,
        )
    return DEMO_SHOPIFY_DOMAIN
