"""Shopify's webhooks into a live test server: the emulator delivers them, signed, to our
receiver, as it would in production."""

from __future__ import annotations

import time

from integrations.models import ShopifyWebhookReceipt, WebhookStatus
from integrations.shopify import inbound
from integrations.shopify.connections import webhook_callback_url
from integrations.shopify.gateway import ShopifyCredentials, ShopifyGateway
from tenants.scope import tenant_context


def subscribe(mirror, live_server, settings) -> None:
    """Subscribe the mirror's store to our live server's receiver (what connecting does)."""
    settings.KEELSON_PUBLIC_URL = live_server.url
    gateway = ShopifyGateway(ShopifyCredentials.from_store(mirror.store))
    gateway.ensure_webhook_subscriptions(webhook_callback_url(mirror.store))


def receive(mirror, topic: str, *, timeout: float = 30) -> list[ShopifyWebhookReceipt]:
    """Deliver the emulator's webhooks until one of ``topic`` is recorded; process the
    recorded ones (the task's work) and return the receipts of ``topic``."""
    deadline = time.monotonic() + timeout
    while True:
        mirror.shopify.control.deliver_now()
        with tenant_context(mirror.merchant):
            found = list(ShopifyWebhookReceipt.objects.filter(topic=topic).order_by("id"))
        if found:
            break
        assert time.monotonic() < deadline, mirror.shopify.control.deliveries(store=mirror.domain)
        time.sleep(0.2)
    with tenant_context(mirror.merchant):
        # The receipts returned are the ones recorded by now, each processed: a webhook the
        # emulator delivers meanwhile is left for the next call (returned unprocessed, it made
        # a caller waiting for a second receipt read its status too early).
        topic_ids = list(
            ShopifyWebhookReceipt.objects.filter(topic=topic)
            .order_by("id")
            .values_list("id", flat=True)
        )
        waiting = ShopifyWebhookReceipt.objects.filter(status=WebhookStatus.RECEIVED)
        for receipt_id in list(waiting.order_by("id").values_list("id", flat=True)):
            inbound.process_receipt(mirror.merchant.pk, receipt_id)
        return list(ShopifyWebhookReceipt.objects.filter(id__in=topic_ids).order_by("id"))
