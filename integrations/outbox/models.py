"""OutboxMessage: one external effect waiting to happen, or its record once it did."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantForeignKey, TenantModel


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class OutboxMessage(TenantModel):
    kind = models.CharField(verbose_name=_("kind"), max_length=64)
    payload = models.JSONField(verbose_name=_("payload"), default=dict)
    # Sent to the destination with every attempt, so a retry is recognised as the same request.
    idempotency_key = models.CharField(verbose_name=_("idempotency key"), max_length=200)
    # The order whose timeline records the outcome, if any.
    order = TenantForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=OutboxStatus.choices,
        default=OutboxStatus.PENDING,
    )
    attempts = models.PositiveIntegerField(verbose_name=_("attempts"), default=0)
    max_attempts = models.PositiveIntegerField(verbose_name=_("max attempts"), default=8)
    next_attempt_at = models.DateTimeField(verbose_name=_("next attempt at"), default=timezone.now)
    # A worker that claimed the message owns it until lease_until; a killed worker's claim
    # simply expires and the message is delivered again (same idempotency key).
    lease_until = models.DateTimeField(verbose_name=_("lease until"), null=True, blank=True)
    lease_token = models.UUIDField(verbose_name=_("lease token"), null=True, blank=True)
    last_error = models.TextField(verbose_name=_("last error"), blank=True)
    last_error_code = models.CharField(verbose_name=_("last error code"), max_length=64, blank=True)
    result = models.JSONField(verbose_name=_("result"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    sent_at = models.DateTimeField(verbose_name=_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name_plural = _("outbox messages")
        verbose_name = _("outbox message")
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
