"""Isolation-harness factory (tests/portal/test_isolation.py) for the portal's outbox page."""

from __future__ import annotations

import itertools

from django.db import transaction
from django.utils import timezone

from integrations.outbox.models import OutboxMessage
from integrations.outbox.services import enqueue
from tenants.models import Merchant
from tenants.scope import tenant_context
from tests.fulfillment.factories import make_order
from tests.support.tenant_factories import tenant_factory

_n = itertools.count(1)


@tenant_factory(OutboxMessage)
def make_outbox_message(merchant: Merchant) -> OutboxMessage:
    """A failed message about one of the merchant's orders."""
    order = make_order(merchant)
    with tenant_context(merchant), transaction.atomic():
        message = enqueue(
            merchant_id=merchant.pk,
            kind="sandbox.webhook",
            payload={"url": "http://127.0.0.1:9/"},
            idempotency_key=f"factory-{next(_n)}",
            order_id=order.pk,
            deliver_after=timezone.now(),
        )
        OutboxMessage.objects.filter(pk=message.pk).update(status="failed", last_error="HTTP 503")
        message.refresh_from_db()
        return message
