"""django-q2 entry points of the outbox."""

from __future__ import annotations

from django.utils import timezone

from integrations.outbox import services
from integrations.outbox.models import OutboxMessage, OutboxStatus
from tenants.scope import system_context, tenant_context


def deliver_message(merchant_id: int, message_id: int) -> int:
    """Right after commit: deliver one message (if it is still due and unclaimed)."""
    with tenant_context(merchant_id):
        return services.deliver_due(message_id=message_id)


def deliver_merchant(merchant_id: int) -> int:
    with tenant_context(merchant_id):
        return services.deliver_due()


def sweep() -> int:
    """Every minute: deliver what the after-commit path missed (broker down, worker killed,
    retries that came due). Fans out one task per merchant with due messages."""
    from django_q.tasks import async_task

    with system_context("outbox sweep: find merchants with due messages"):
        merchant_ids = list(
            OutboxMessage.objects.filter(
                status=OutboxStatus.PENDING, next_attempt_at__lte=timezone.now()
            )
            .values_list("merchant_id", flat=True)
            .distinct()
        )
    for merchant_id in merchant_ids:
        async_task("integrations.outbox.tasks.deliver_merchant", merchant_id)
    return len(merchant_ids)
