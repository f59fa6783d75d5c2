"""Isolation-harness factories for the tenancy models shown in the portal."""

from __future__ import annotations

import itertools

from tenants.models import AmazonAccount, ApiKey, Merchant, ShopifyStore
from tenants.scope import tenant_context
from tenants.services import create_api_key
from tests.support.tenant_factories import tenant_factory

_n = itertools.count(1)


@tenant_factory(Merchant)
def merchant_itself(merchant: Merchant) -> Merchant:
    return merchant


@tenant_factory(AmazonAccount)
def make_amazon_account(merchant: Merchant) -> AmazonAccount:
    n = next(_n)
    with tenant_context(merchant):
        return AmazonAccount.objects.create(
            merchant=merchant,
            name=f"Amazon account {n}",
            selling_partner_id=f"AFACTORY{n:07d}",
            marketplace_ids=["ATVPDKIKX0DER"],
            lwa_refresh_token=f"Atzr|factory-refresh-{n}",
        )


@tenant_factory(ShopifyStore)
def make_shopify_store(merchant: Merchant) -> ShopifyStore:
    n = next(_n)
    with tenant_context(merchant):
        return ShopifyStore.objects.create(
            merchant=merchant,
            shop_domain=f"factory-{n}.myshopify.com",
            access_token=f"shpat_factory_{n}",
        )


@tenant_factory(ApiKey)
def make_api_key(merchant: Merchant) -> ApiKey:
    return create_api_key(
        name=f"Factory key {next(_n)}", scopes=["orders:read"], merchant=merchant
    ).api_key
