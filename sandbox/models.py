"""Emulator state. Each emulator keeps its models in its own module; they are imported here so
that Django finds them (app label "sandbox")."""

from sandbox.amazon.models import (  # noqa: F401
    AmazonAdjustment,
    AmazonApplication,
    AmazonAuthorization,
    AmazonAuthorizationCode,
    AmazonFeed,
    AmazonFeedDocument,
    AmazonOrder,
    AmazonOrderItem,
    AmazonPackage,
    AmazonSeller,
    SandboxState,
)
from sandbox.shopify.models import (  # noqa: F401
    ShopifyFulfillment,
    ShopifyLineItem,
    ShopifyOrder,
    ShopifyRefund,
    ShopifySandboxState,
    ShopifyStore,
    ShopifyTransaction,
    ShopifyWebhookDelivery,
    ShopifyWebhookSubscription,
)
