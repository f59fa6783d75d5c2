"""The demo's Amazon: each demo merchant's seller account lives in the SP-API emulator, with a
month of generated orders, and is connected to Keelson like a real one (only the endpoints
differ). Idempotent: an existing emulator seller keeps its orders; reconnecting keeps the
sync's cursor."""

from __future__ import annotations

from orders.sync import connect_amazon_account
from portal.demo_data import AGENCIES
from sandbox.amazon.control import AmazonSandboxClient, SandboxControlError
from tenants.models import Merchant
from tenants.scope import tenant_context

DEMO_BACKFILL_DAYS = 30
DEMO_ORDERS_PER_SELLER = 40


def demo_seller_ids() -> list[str]:
    return [spec.seller_id for agency in AGENCIES for spec in agency.merchants]


def connect_demo_amazon_accounts(
    sandbox_url: str, *, orders_per_seller: int = DEMO_ORDERS_PER_SELLER
) -> list[str]:
    """Create the demo sellers in the emulator (with generated orders) and connect the demo
    merchants' Amazon accounts to them. Returns the merchants connected."""

    control = AmazonSandboxClient(sandbox_url)
    connected = []
    for agency in AGENCIES:
        for spec in agency.merchants:
            try:
                seller = control.seller(spec.seller_id)
            except SandboxControlError as exc:
                if exc.status != 404:
                    raise
                seller = control.create_seller(
                    selling_partner_id=spec.seller_id,
                    name=spec.name,
                    marketplace_ids=[spec.marketplace],
                    client_id="keelson-demo-lwa-client",
                    client_secret="keelson-demo-lwa-secret",  # noqa: S106 (a demo sandbox seller)
                    refresh_token=f"Atzr|keelson-demo-{spec.slug}",
                )
                control.generate_orders(
                    spec.seller_id, orders_per_seller, seed=spec.slug, days=DEMO_BACKFILL_DAYS
                )
            merchant = Merchant.objects.get(slug=spec.slug)
            with tenant_context(merchant):
                connect_amazon_account(
                    merchant,
                    selling_partner_id=spec.seller_id,
                    marketplace_ids=[spec.marketplace],
                    refresh_token=seller["refresh_token"],
                    region=spec.region,
                    name=f"{spec.name} on Amazon",
                    lwa_client_id=seller["client_id"],
                    lwa_client_secret=seller["client_secret"],
                    endpoint_override=seller["endpoint"],
                    lwa_endpoint_override=seller["lwa_token_url"],
                    backfill_days=DEMO_BACKFILL_DAYS,
                )
            connected.append(spec.name)
    return connected
