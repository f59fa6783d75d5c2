"""Webhooks from Shopify, after they were received and verified (``views.receive_webhook``):
processed by a task, one receipt at a time, by the handlers the apps above register per topic.

The apps that own what a webhook changes subscribe in their ``AppConfig.ready``
(``register("fulfillments/create", handler)``): integrations does not know fulfillments or
refunds. A handler runs inside the receipt's transaction and the merchant's scope and returns
the outcome in plain words (or raises: the receipt is marked failed with the error, and the
task does not retry it on its own). A topic nobody handles is recorded as "nothing to do".
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from integrations.models import ShopifyWebhookReceipt, WebhookStatus
from tenants.scope import system_context, tenant_context

logger = logging.getLogger(__name__)

PROCESS_TASK = "integrations.shopify.inbound.process_receipt"


class Failed(str):
    """A handler's outcome that is a refusal (the receipt is marked failed, with this text). The
    handler records what the merchant must see (timeline, notification) before returning it:
    an exception would roll those writes back with its own."""


Handler = Callable[[ShopifyWebhookReceipt], str | None]
_handlers: dict[str, list[tuple[str, Handler]]] = {}


def register(topic: str, name: str, handler: Handler) -> None:
    """Handle ``topic`` (``orders/cancelled``, ...) with ``handler``, known as ``name``."""
    entries = _handlers.setdefault(topic, [])
    if any(existing == name for existing, _ in entries):
        return
    entries.append((name, handler))


def unregister(topic: str, name: str) -> None:
    """Stop handling ``topic`` with the handler known as ``name`` (tests, and an app that
    switches a feature off)."""
    _handlers[topic] = [(n, h) for n, h in _handlers.get(topic, ()) if n != name]


def handlers_for(topic: str) -> list[tuple[str, Handler]]:
    return list(_handlers.get(topic, ()))


def queue_processing(merchant_id: int, receipt_id: int) -> None:
    """After the receipt commits, a task processes it (the request has answered by then)."""

    def queue() -> None:
        try:
            async_task(PROCESS_TASK, merchant_id, receipt_id)
        except Exception:  # the broker being down: the sweep picks the receipt up later
            logger.exception("could not queue Shopify webhook %s", receipt_id)

    transaction.on_commit(queue)


SWEEP_AFTER = timedelta(minutes=1)
SWEEP_BATCH = 500


def sweep_received() -> int:
    """Every minute (portal/schedules.py): the receipts whose task never ran (the broker was
    down when they came in) are processed now. Returns how many."""
    before = timezone.now() - SWEEP_AFTER
    with system_context("shopify webhooks: find the receipts left unprocessed"):
        rows = list(
            ShopifyWebhookReceipt.objects.filter(
                status=WebhookStatus.RECEIVED, received_at__lt=before
            )
            .order_by("id")
            .values_list("merchant_id", "id")[:SWEEP_BATCH]
        )
    for merchant_id, receipt_id in rows:
        process_receipt(merchant_id, receipt_id)
    return len(rows)


def process_receipt(merchant_id: int, receipt_id: int) -> str:
    """Process one receipt (idempotent: a processed receipt is left alone)."""
    with tenant_context(merchant_id), transaction.atomic():
        receipt = ShopifyWebhookReceipt.objects.select_for_update().filter(pk=receipt_id).first()
        if receipt is None or receipt.status != WebhookStatus.RECEIVED:
            return receipt.status if receipt else "missing"
        handlers = handlers_for(receipt.topic)
        outcomes: list[str] = []
        current = ""
        try:
            with transaction.atomic():
                for name, handler in handlers:
                    current = name  # named in the log if it fails
                    outcome = handler(receipt)
                    if outcome:
                        outcomes.append(outcome)
        except Exception as exc:
            logger.exception(
                "Shopify webhook %s (%s) failed in %s", receipt.pk, receipt.topic, current
            )
            receipt.status = WebhookStatus.FAILED
            receipt.outcome = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        else:
            if any(isinstance(outcome, Failed) for outcome in outcomes):
                receipt.status = WebhookStatus.FAILED
            else:
                receipt.status = WebhookStatus.PROCESSED if outcomes else WebhookStatus.IGNORED
            receipt.outcome = " ".join(outcomes)
        receipt.processed_at = timezone.now()
        receipt.save(update_fields=["status", "outcome", "processed_at"])
        return receipt.status
