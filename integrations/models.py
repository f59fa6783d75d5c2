"""Models of the integrations app: the outbox, Amazon's rate buckets, Shopify's webhooks."""

from django.db import models
from django.utils import timezone

from integrations.outbox.models import OutboxMessage, OutboxStatus
from tenants.models import ShopifyStore, TenantForeignKey, TenantModel

__all__ = [
    "AmazonRateBucket",
    "OutboxMessage",
    "OutboxStatus",
    "ShopifyWebhookReceipt",
    "WebhookStatus",
]


class AmazonRateBucket(models.Model):
    """A token bucket per (selling partner, operation); see integrations.amazon.ratelimit.
    Keyed by seller, not merchant: system data, outside row-level security."""

    key = models.CharField(max_length=200, unique=True)
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.2f}"


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    IGNORED = "ignored", "Nothing to do"
    FAILED = "failed", "Failed"


class ShopifyWebhookReceipt(TenantModel):
    """One webhook Shopify delivered to us, once: deduplicated by ``X-Shopify-Webhook-Id``
    (Shopify sends a webhook again until it sees a 2xx, with the same id), processed by a task,
    never in the request."""

    store = TenantForeignKey(ShopifyStore, on_delete=models.CASCADE, related_name="+")
    webhook_id = models.CharField(max_length=100)
    topic = models.CharField(max_length=64)
    triggered_at = models.CharField(max_length=64, blank=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED
    )
    outcome = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "store", "webhook_id"], name="shopify_webhook_unique_delivery"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.webhook_id}"
