"""The real ShopifyAPI client, through our gateway, against a running Shopify emulator."""

from __future__ import annotations

import pytest

from integrations.shopify.gateway import ShopifyCredentials, ShopifyGateway
from sandbox.shopify.testing import running_shopify_sandbox


@pytest.fixture
def shopify_sandbox(transactional_db):
    with running_shopify_sandbox() as sandbox:
        yield sandbox


def credentials_for(sandbox, **overrides) -> ShopifyCredentials:
    store = sandbox.store
    fields = {
        "shop_domain": store["domain"],
        "access_token": store["access_token"],
        "api_version": store["api_version"],
        "endpoint": sandbox.base_url,
        "webhook_secret": store["client_secret"],
    }
    fields.update(overrides)
    return ShopifyCredentials(**fields)


@pytest.fixture
def gateway(shopify_sandbox) -> ShopifyGateway:
    return ShopifyGateway(credentials_for(shopify_sandbox))
