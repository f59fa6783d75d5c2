"""Models of the integrations app: the outbox, Amazon's rate buckets, Shopify's webhooks."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

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

    key = models.CharField(verbose_name=_("key"), max_length=200, unique=True)
    tokens = models.FloatField(verbose_name=_("tokens"))
    updated_at = models.DateTimeField(verbose_name=_("updated at"))

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.2f}"


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Nothing to do")
    FAILED = "failed", _("Failed")


class ShopifyWebhookReceipt(TenantModel):
    """One webhook Shopify delivered to us, once: deduplicated by ``X-Shopify-Webhook-Id``
    (Shopify sends a webhook again until it sees a 2xx, with the same id), processed by a task,
    never in the request."""

    store = TenantForeignKey(
        ShopifyStore, verbose_name=_("store"), on_delete=models.CASCADE, related_name="+"
    )
    webhook_id = models.CharField(verbose_name=_("webhook id"), max_length=100)
    topic = models.CharField(verbose_name=_("topic"), max_length=64)
    triggered_at = models.CharField(verbose_name=_("triggered at"), max_length=64, blank=True)
    payload = models.JSONField(verbose_name=_("payload"), default=dict)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=WebhookStatus.choices,
        default=WebhookStatus.RECEIVED,
    )
    outcome = models.TextField(verbose_name=_("outcome"), blank=True)
    received_at = models.DateTimeField(verbose_name=_("received at"), default=timezone.now)
    processed_at = models.DateTimeField(verbose_name=_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("shopify webhook receipt")
        verbose_name_plural = _("shopify webhook receipts")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "store", "webhook_id"], name="shopify_webhook_unique_delivery"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.webhook_id}"
