"""``POST /webhooks/shopify/<store>/``: Shopify's webhooks in.

The signature is checked first, over the raw body and in constant time, with the store's
secret: a missing or wrong ``X-Shopify-Hmac-Sha256`` is a 401 and nothing is read or kept
(the log names the store and topic, never the body). A delivery Shopify sends again (same
``X-Shopify-Webhook-Id``) is answered 200 and not processed twice. Processing happens in a
task after commit; the request only records the receipt, so Shopify gets its 200 fast.
"""

from __future__ import annotations

import json
import logging

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from foundation.api.errors import problem_response
from integrations.models import ShopifyWebhookReceipt
from integrations.shopify.gateway import WEBHOOK_TOPICS
from integrations.shopify.inbound import queue_processing
from integrations.shopify.webhooks import verify_webhook_hmac
from tenants.models import AccountStatus, ShopifyStore
from tenants.scope import system_context, tenant_context

logger = logging.getLogger(__name__)

MAX_BODY = 5 * 1024 * 1024
# The topics we subscribe to (``WEBHOOK_TOPICS``), as Shopify names them in X-Shopify-Topic.
KNOWN_TOPICS = frozenset(topic.lower().replace("_", "/", 1) for topic in WEBHOOK_TOPICS)


@csrf_exempt
@require_POST
def receive_webhook(request: HttpRequest, store_id: int) -> HttpResponse:
    topic = request.headers.get("X-Shopify-Topic", "")[:64]
    with system_context("shopify webhook: find the store it is addressed to"):
        store = ShopifyStore.objects.filter(pk=store_id).first()
    if store is None:
        logger.warning("shopify webhook for unknown store %s (%s)", store_id, topic)
        return problem_response(401, "invalid_signature", "The webhook's signature is not valid.")
    raw = request.body
    if len(raw) > MAX_BODY or not verify_webhook_hmac(
        raw, request.headers.get("X-Shopify-Hmac-Sha256"), store.webhook_secret
    ):
        logger.warning("shopify webhook with a bad signature for store %s (%s)", store.pk, topic)
        return problem_response(401, "invalid_signature", "The webhook's signature is not valid.")
    webhook_id = request.headers.get("X-Shopify-Webhook-Id", "").strip()[:100]
    if not webhook_id or not topic:
        return problem_response(
            400, "validation_error", "X-Shopify-Webhook-Id and X-Shopify-Topic are required."
        )
    if topic not in KNOWN_TOPICS:
        logger.warning("shopify webhook with a topic we never subscribed to: %s", topic)
        return problem_response(400, "unknown_topic", f"Keelson does not subscribe to {topic!r}.")
    try:
        payload = json.loads(raw)
    except ValueError:
        return problem_response(400, "validation_error", "The webhook's body is not JSON.")
    if store.status != AccountStatus.ACTIVE:
        # Signed, but the merchant disconnected the store: acknowledged, not acted on.
        return JsonResponse({"status": "ignored"}, status=200)
    with tenant_context(store.merchant_id):
        try:
            with transaction.atomic():
                receipt = ShopifyWebhookReceipt.objects.create(
                    merchant_id=store.merchant_id,
                    store=store,
                    webhook_id=webhook_id,
                    topic=topic,
                    triggered_at=request.headers.get("X-Shopify-Triggered-At", "")[:64],
                    payload=payload if isinstance(payload, dict) else {"value": payload},
                )
                queue_processing(store.merchant_id, receipt.pk)
        except IntegrityError:
            return JsonResponse({"status": "duplicate"}, status=200)
    return JsonResponse({"status": "received"}, status=200)
