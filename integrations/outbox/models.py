"""OutboxMessage: one external effect waiting to happen, or its record once it did."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import TenantForeignKey, TenantModel


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class OutboxMessage(TenantModel):
    kind = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    # Sent to the destination with every attempt, so a retry is recognised as the same request.
    idempotency_key = models.CharField(max_length=200)
    # The order whose timeline records the outcome, if any.
    order = TenantForeignKey(
        "orders.Order", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker that claimed the message owns it until lease_until; a killed worker's claim
    # simply expires and the message is delivered again (same idempotency key).
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_code = models.CharField(max_length=64, blank=True)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "outbox message"
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "idempotency_key"], name="outbox_unique_idempotency_key"
            )
        ]
        indexes = [
            # The delivery queue: only pending rows, in due order.
            models.Index(
                fields=["next_attempt_at"],
                name="outbox_pending_due",
                condition=Q(status="pending"),
            ),
            models.Index(fields=["merchant", "status", "-id"], name="outbox_merchant_status"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @staticmethod
    def new_lease_token() -> uuid.UUID:
        return uuid.uuid4()
