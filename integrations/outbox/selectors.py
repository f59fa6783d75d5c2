"""Reads of the outbox that other apps build on."""

from __future__ import annotations

from django.db.models import CharField, Exists, OuterRef, QuerySet, Value
from django.db.models.functions import Cast, Concat

from integrations.outbox.models import OutboxMessage


def never_queued(queryset: QuerySet, *, merchant_id: int, key: tuple[str, str]) -> QuerySet:
    """The rows of ``queryset`` for which no outbox message exists under the idempotency key
    ``prefix + str(row.pk) + suffix`` (``key = (prefix, suffix)``, the same parts the caller's
    key function joins): what a reconcile still has to queue, in one query."""
    prefix, suffix = key
    expected = Concat(
        Value(prefix), Cast("pk", CharField()), Value(suffix), output_field=CharField()
    )
    queued = OutboxMessage.objects.filter(
        merchant_id=merchant_id, idempotency_key=OuterRef("expected_outbox_key")
    )
    return queryset.annotate(expected_outbox_key=expected).exclude(Exists(queued))
