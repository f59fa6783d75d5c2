"""Models of the integrations app: the outbox, Amazon's rate buckets and feed batches,
Shopify's webhooks."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations.outbox.models import OutboxMessage, OutboxStatus
from tenants.models import (
    AmazonAccount,
    ShopifyStore,
    TenantForeignKey,
    TenantModel,
    TenantOneToOneField,
)

__all__ = [
    "AmazonFeedBatch",
    "AmazonFeedBatchStatus",
    "AmazonFeedMessage",
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


class AmazonFeedBatchStatus(models.TextChoices):
    OPEN = "open", "Collecting messages"
    SEALED = "sealed", "Being sent to Amazon"
    SUBMITTED = "submitted", "Amazon is processing it"
    DONE = "done", "Processed by Amazon"
    FAILED = "failed", "Not processed"
    ABANDONED = "abandoned", "Never sent (no message left)"


class AmazonFeedBatch(TenantModel):
    """One Amazon feed carrying the pending messages of one account, feed type and marketplace
    (integrations/amazon/feed_batches.py). Its members are fixed when it is sealed, in one
    transaction, before any call to Amazon; the document, its id and the feed id are recorded
    as soon as Amazon gives them, so a retry resumes this batch and never builds another for
    the same messages."""

    account = TenantForeignKey(AmazonAccount, on_delete=models.CASCADE, related_name="+")
    feed_type = models.CharField(max_length=64)
    message_type = models.CharField(max_length=64)
    marketplace_id = models.CharField(max_length=20)
    status = models.CharField(
        max_length=16, choices=AmazonFeedBatchStatus.choices, default=AmazonFeedBatchStatus.OPEN
    )
    message_count = models.PositiveIntegerField(default=0)
    byte_size = models.PositiveIntegerField(default=0)
    opened_at = models.DateTimeField(default=timezone.now)
    # The latest a member waits for companions (opened_at + the batch wait).
    due_at = models.DateTimeField()
    sealed_at = models.DateTimeField(null=True, blank=True)
    # The document exactly as validated and uploaded (a retry uploads the same bytes).
    document = models.BinaryField(null=True, blank=True)
    document_id = models.CharField(max_length=200, blank=True)
    # Set before createFeed is called: from then on the feed may exist at Amazon, so the
    # members are "sent" even if the feed id never came back (the retry resubmits the same
    # document, whose MerchantAdjustmentItemIDs Amazon does not apply twice).
    create_feed_attempted_at = models.DateTimeField(null=True, blank=True)
    create_feed_calls = models.PositiveIntegerField(default=0)
    feed_id = models.CharField(max_length=64, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    processing_status = models.CharField(max_length=24, blank=True)
    result_document_id = models.CharField(max_length=200, blank=True)
    report = models.JSONField(null=True, blank=True)
    failure = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The worker sending it (createFeedDocument, upload, createFeed) owns it until then.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.UUIDField(null=True, blank=True)

    class Meta:
        verbose_name = "Amazon feed batch"
        verbose_name_plural = "Amazon feed batches"
        constraints = [
            # One batch collects at a time per account, feed type and marketplace.
            models.UniqueConstraint(
                fields=["merchant", "account", "feed_type", "marketplace_id"],
                condition=Q(status="open"),
                name="amazon_feed_batch_one_open",
            )
        ]
        indexes = [
            models.Index(fields=["merchant", "status", "-id"], name="amazon_feed_batch_status"),
        ]

    def __str__(self) -> str:
        return f"{self.feed_type} batch #{self.pk} ({self.status}, {self.message_count})"


class AmazonFeedMessage(TenantModel):
    """One outbox message's place in a feed batch: its MessageID there, its body, and its
    line of the processing report. An outbox message is in one batch at most (unique)."""

    batch = TenantForeignKey(AmazonFeedBatch, on_delete=models.CASCADE, related_name="members")
    outbox_message = TenantOneToOneField(
        OutboxMessage, on_delete=models.CASCADE, related_name="feed_member"
    )
    message_id = models.PositiveIntegerField()
    body = models.TextField()
    # This message's results in the processing report (errors, warnings), once Amazon is done.
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Amazon feed message"
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "batch", "message_id"], name="amazon_feed_message_unique_id"
            ),
            # One batch at most per outbox message (TenantOneToOneField: unique with the merchant).
            models.UniqueConstraint(
                fields=["merchant", "outbox_message"], name="amazon_feed_message_one_batch"
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} of batch {self.batch_id}"
