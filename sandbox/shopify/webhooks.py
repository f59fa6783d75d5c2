"""Webhooks: one delivery row per event and subscription, written in the event's transaction,
and a background thread that POSTs them to the subscribers.

Each delivery is signed as Shopify signs: ``X-Shopify-Hmac-Sha256`` is the base64 HMAC-SHA256
of the raw body with the app's client secret. It also carries ``X-Shopify-Topic``,
``X-Shopify-Shop-Domain``, ``X-Shopify-Webhook-Id`` (the same on every retry of one webhook:
receivers deduplicate by it), ``X-Shopify-Event-Id``, ``X-Shopify-Triggered-At`` and
``X-Shopify-API-Version``.

A 2xx answer within the timeout (default 5 s, like Shopify's) delivers it; anything else is
retried after the next delay of the retry schedule (``DEFAULT_RETRY``, bounded: after the last
one the delivery is ``failed``). Shopify retries 8 times over 4 hours; the default schedule
here is 8 retries over about 2 hours, and tests shorten it through the control API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import uuid
from datetime import datetime, timedelta
from typing import Any

import requests
from django.db import connections, transaction
from django.utils import timezone

from sandbox.shopify.models import (
    ShopifySandboxState,
    ShopifyStore,
    ShopifyWebhookDelivery,
    ShopifyWebhookSubscription,
)

logger = logging.getLogger("sandbox.shopify.webhooks")

# Seconds before retry 1, 2, ... 8 (then the delivery fails).
DEFAULT_RETRY = [5, 30, 60, 300, 600, 1200, 1800, 3600]
TOPIC_ENUMS = {
    "orders/create": "ORDERS_CREATE",
    "orders/updated": "ORDERS_UPDATED",
    "orders/cancelled": "ORDERS_CANCELLED",
    "fulfillments/create": "FULFILLMENTS_CREATE",
    "refunds/create": "REFUNDS_CREATE",
}
API_VERSION = "2025-07"

_wake = threading.Event()


def sign(body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _default(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def enqueue(store: ShopifyStore, topic: str, payload: dict, now: datetime) -> int:
    """Queue ``topic`` with ``payload`` for every subscription of the store (inside the
    caller's transaction: nothing is sent for an event that rolls back)."""
    subscriptions = list(
        ShopifyWebhookSubscription.objects.filter(store=store, topic=TOPIC_ENUMS[topic])
    )
    if not subscriptions:
        return 0
    event_id = str(uuid.uuid4())
    ShopifyWebhookDelivery.objects.bulk_create(
        ShopifyWebhookDelivery(
            store=store,
            subscription=subscription,
            topic=topic,
            callback_url=subscription.callback_url,
            webhook_id=str(uuid.uuid4()),
            event_id=event_id,
            api_version=API_VERSION,
            body=_body(payload, subscription.include_fields),
            triggered_at=now,
            next_attempt_at=timezone.now(),
        )
        for subscription in subscriptions
    )
    transaction.on_commit(_wake.set)
    return len(subscriptions)


def _body(payload: dict, include_fields: list[str]) -> bytes:
    if include_fields:
        payload = {k: v for k, v in payload.items() if k in include_fields}
    return json.dumps(payload, default=_default, ensure_ascii=False).encode("utf-8")


def headers_for(delivery: ShopifyWebhookDelivery, store: ShopifyStore) -> dict[str, str]:
    body = bytes(delivery.body)
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": delivery.topic,
        "X-Shopify-Hmac-Sha256": sign(body, store.client_secret),
        "X-Shopify-Shop-Domain": store.domain,
        "X-Shopify-Webhook-Id": delivery.webhook_id,
        "X-Shopify-Event-Id": delivery.event_id,
        "X-Shopify-Triggered-At": delivery.triggered_at.isoformat(),
        "X-Shopify-API-Version": delivery.api_version,
        "User-Agent": "Shopify-Captain-Hook",
    }


def retry_schedule(state: ShopifySandboxState | None = None) -> list[float]:
    state = state or ShopifySandboxState.load()
    schedule = state.webhook_retry_schedule
    return [float(s) for s in schedule] if schedule is not None else list(DEFAULT_RETRY)


def deliver_due(limit: int = 20) -> int:
    """Attempt every delivery that is due; returns how many were attempted."""
    state = ShopifySandboxState.load()
    schedule = retry_schedule(state)
    attempted = 0
    while attempted < limit:
        with transaction.atomic():
            delivery = (
                ShopifyWebhookDelivery.objects.select_for_update(skip_locked=True)
                .filter(status=ShopifyWebhookDelivery.PENDING, next_attempt_at__lte=timezone.now())
                .select_related("store")
                .order_by("next_attempt_at", "id")
                .first()
            )
            if delivery is None:
                return attempted
            # Claim it: another dispatcher sees it only when this attempt is over and due.
            ShopifyWebhookDelivery.objects.filter(pk=delivery.pk).update(
                next_attempt_at=timezone.now() + timedelta(seconds=60)
            )
        attempted += 1
        _attempt(delivery, schedule, state.webhook_timeout_seconds)
    return attempted


def _attempt(delivery: ShopifyWebhookDelivery, schedule: list[float], timeout: float) -> None:
    status, error = None, ""
    try:
        response = requests.post(
            delivery.callback_url,
            data=bytes(delivery.body),
            headers=headers_for(delivery, delivery.store),
            timeout=timeout,
            allow_redirects=False,
        )
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}"
    except requests.RequestException as exc:
        error = f"{type(exc).__name__}: {exc}"
    now = timezone.now()
    attempts = delivery.attempts + 1
    log = [*delivery.attempt_log, {"at": now.isoformat(), "status": status, "error": error}]
    fields: dict[str, Any] = {
        "attempts": attempts,
        "last_status": status,
        "last_error": error,
        "attempt_log": log,
    }
    if not error:
        fields.update(status=ShopifyWebhookDelivery.DELIVERED, delivered_at=now)
    elif attempts > len(schedule):
        fields.update(status=ShopifyWebhookDelivery.FAILED, next_attempt_at=None)
    else:
        fields["next_attempt_at"] = now + timedelta(seconds=schedule[attempts - 1])
    ShopifyWebhookDelivery.objects.filter(pk=delivery.pk).update(**fields)
    logger.info("webhook %s %s -> %s", delivery.topic, delivery.callback_url, status or error)


class Dispatcher:
    """The server's delivery thread: woken when an event commits, else polls every
    ``interval`` seconds for retries that came due."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shopify-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        _wake.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                deliver_due()
            except Exception:
                logger.exception("webhook dispatch failed")
            finally:
                connections.close_all()
            _wake.wait(self.interval)
            _wake.clear()
