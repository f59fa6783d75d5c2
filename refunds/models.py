"""Refunds (and the cancellations that carry one), their lines, and how buyer cancellation
requests were answered.

A ``Refund`` is money given back on one order, in the order's currency. Three kinds of rows:

- a refund a person or partner made in Keelson (``origin=keelson``, ``kind=refund``), sent to
  Amazon with the payment-adjustment feed;
- a cancellation (``kind=cancellation``): the order's open items cancelled on Amazon with the
  order-acknowledgement feed, and the refund that cancellation implies (R7);
- a refund made on Amazon, outside Keelson (``origin=amazon``: Seller Central), found in
  Amazon's Finances events and recorded so reports are right; it blocks further refunds (R6).

Totals are computed by ``refunds.policy`` and stored; the client never gives them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from orders.models import ActorType, Order, OrderLine
from refunds.policy import CANCEL_REASON_TEXT, AdjustmentReason, CancelReason
from tenants.models import ApiKey, TenantForeignKey, TenantModel

MONEY = {"max_digits": 14, "decimal_places": 2, "default": 0}
ADJUSTMENT_REASON_CHOICES = [(r.value, r.value) for r in AdjustmentReason]
CANCEL_REASON_CHOICES = [(r.value, CANCEL_REASON_TEXT[r]) for r in CancelReason]


class RefundKind(models.TextChoices):
    REFUND = "refund", _("Refund")
    CANCELLATION = "cancellation", _("Cancellation")


class RefundOrigin(models.TextChoices):
    KEELSON = "keelson", _("Keelson")
    AMAZON = "amazon", _("Amazon (Seller Central)")


class RefundStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")


class AmazonSync(models.TextChoices):
    NOT_APPLICABLE = "not_applicable", _("Not an Amazon order")
    PENDING = "pending", _("Waiting to be sent")
    ON_HOLD = "on_hold", _("On hold: the Amazon account is not connected")
    SENDING = "sending", _("Being sent to Amazon")
    SUBMITTED = "submitted", _("Sent: Amazon is processing it")
    SYNCED = "synced", _("Accepted by Amazon")
    FAILED = "failed", _("Refused by Amazon")
    FROM_AMAZON = "from_amazon", _("Made on Amazon")


class ShopifySync(models.TextChoices):
    NOT_APPLICABLE = "not_applicable", _("Not for Shopify (no store, or nothing to mirror)")
    PENDING = "pending", _("Waiting to be mirrored")
    SYNCED = "synced", _("Mirrored to Shopify")
    FAILED = "failed", _("Mirroring failed")


class Refund(TenantModel):
    order = TenantForeignKey(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="refunds"
    )
    kind = models.CharField(
        verbose_name=_("kind"), max_length=16, choices=RefundKind.choices, default=RefundKind.REFUND
    )
    origin = models.CharField(
        verbose_name=_("origin"),
        max_length=16,
        choices=RefundOrigin.choices,
        default=RefundOrigin.KEELSON,
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=RefundStatus.choices,
        default=RefundStatus.PENDING,
    )
    failure_code = models.CharField(verbose_name=_("failure code"), max_length=64, blank=True)
    failure_message = models.TextField(verbose_name=_("failure message"), blank=True)

    reason = models.CharField(
        verbose_name=_("reason"),
        max_length=40,
        choices=ADJUSTMENT_REASON_CHOICES,
        blank=True,
        help_text=_("Amazon's AdjustmentReason (refunds)."),
    )
    note = models.TextField(verbose_name=_("note"), blank=True)
    # Cancellations: Amazon's CancelReason, what the person chose (buyer_requested,
    # address_change or Amazon's name), and whether it answers the buyer's request (B4).
    cancel_reason = models.CharField(
        verbose_name=_("cancel reason"), max_length=40, choices=CANCEL_REASON_CHOICES, blank=True
    )
    requested_reason = models.CharField(
        verbose_name=_("requested reason"), max_length=40, blank=True
    )
    buyer_requested = models.BooleanField(verbose_name=_("buyer requested"), default=False)
    full_cancellation = models.BooleanField(verbose_name=_("full cancellation"), default=False)

    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    items_amount = models.DecimalField(verbose_name=_("items amount"), **MONEY)
    shipping_amount = models.DecimalField(verbose_name=_("shipping amount"), **MONEY)
    total = models.DecimalField(verbose_name=_("total"), **MONEY)

    created_by_type = models.CharField(
        verbose_name=_("created by type"),
        max_length=24,
        choices=ActorType.choices,
        default=ActorType.SYSTEM,
    )
    created_by_name = models.CharField(
        verbose_name=_("created by name"), max_length=200, blank=True
    )
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by_api_key = models.ForeignKey(
        ApiKey,
        verbose_name=_("created by api key"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Who asked, and their request's key: the same key on the same order is the same refund.
    idempotency_key = models.CharField(
        verbose_name=_("idempotency key"), max_length=300, blank=True
    )
    request_fingerprint = models.CharField(
        verbose_name=_("request fingerprint"), max_length=64, blank=True
    )

    amazon_sync = models.CharField(
        verbose_name=_("amazon sync"),
        max_length=16,
        choices=AmazonSync.choices,
        default=AmazonSync.NOT_APPLICABLE,
    )
    amazon_feed_document_id = models.CharField(
        verbose_name=_("amazon feed document id"), max_length=200, blank=True
    )
    amazon_feed_id = models.CharField(verbose_name=_("amazon feed id"), max_length=64, blank=True)
    amazon_feed_status = models.CharField(
        verbose_name=_("amazon feed status"), max_length=24, blank=True
    )
    amazon_report = models.JSONField(verbose_name=_("amazon report"), null=True, blank=True)
    amazon_submitted_at = models.DateTimeField(
        verbose_name=_("amazon submitted at"), null=True, blank=True
    )
    amazon_synced_at = models.DateTimeField(
        verbose_name=_("amazon synced at"), null=True, blank=True
    )
    # The RefundEvent Amazon posted for it (our refunds), or the one it is (Amazon's): R6.
    amazon_refund_key = models.CharField(
        verbose_name=_("amazon refund key"), max_length=200, blank=True
    )
    amazon_posted_at = models.DateTimeField(
        verbose_name=_("amazon posted at"), null=True, blank=True
    )

    shopify_sync = models.CharField(
        verbose_name=_("shopify sync"),
        max_length=16,
        choices=ShopifySync.choices,
        default=ShopifySync.NOT_APPLICABLE,
    )

    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)
    completed_at = models.DateTimeField(verbose_name=_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="refund_unique_idempotency_key",
            ),
            models.UniqueConstraint(
                fields=["merchant", "order", "amazon_refund_key"],
                condition=~Q(amazon_refund_key=""),
                name="refund_unique_amazon_event",
            ),
            models.CheckConstraint(
                name="refund_total_is_items_plus_shipping",
                condition=Q(total=models.F("items_amount") + models.F("shipping_amount")),
            ),
        ]
        indexes = [
            models.Index(fields=["merchant", "order", "-id"], name="refund_order"),
            models.Index(fields=["merchant", "-id"], name="refund_merchant_id_desc"),
            models.Index(
                fields=["merchant", "created_at"],
                name="refund_inventory_cancels",
                condition=Q(kind="cancellation", cancel_reason="NoInventory"),
            ),
        ]

    def __str__(self) -> str:
        what = "Cancellation" if self.kind == RefundKind.CANCELLATION else "Refund"
        return f"{what} #{self.pk}"

    @property
    def is_cancellation(self) -> bool:
        return self.kind == RefundKind.CANCELLATION

    @property
    def is_external(self) -> bool:
        return self.origin == RefundOrigin.AMAZON


class RefundLine(TenantModel):
    refund = TenantForeignKey(
        Refund, verbose_name=_("refund"), on_delete=models.CASCADE, related_name="lines"
    )
    order_line = TenantForeignKey(
        OrderLine,
        verbose_name=_("order line"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Amazon's OrderItemId (also for an item Amazon refunded that we do not hold).
    external_item_id = models.CharField(
        verbose_name=_("external item id"), max_length=64, blank=True
    )
    quantity = models.PositiveIntegerField(verbose_name=_("quantity"), default=0)
    amount = models.DecimalField(
        verbose_name=_("amount"), **MONEY, help_text=_("Item price (and tax added on top).")
    )
    shipping_amount = models.DecimalField(verbose_name=_("shipping amount"), **MONEY)
    # Amazon's adjustment components.
    principal = models.DecimalField(verbose_name=_("principal"), **MONEY)
    tax = models.DecimalField(verbose_name=_("tax"), **MONEY)
    shipping = models.DecimalField(verbose_name=_("shipping"), **MONEY)
    shipping_tax = models.DecimalField(verbose_name=_("shipping tax"), **MONEY)

    class Meta:
        verbose_name = _("refund line")
        verbose_name_plural = _("refund lines")
        ordering = ["id"]
        indexes = [models.Index(fields=["merchant", "order_line"], name="refund_line_order_line")]

    def __str__(self) -> str:
        return f"{self.order_line_id or self.external_item_id} × {self.quantity}: {self.amount}"


class BuyerCancelOutcome(models.TextChoices):
    CANCELLED = "cancelled", _("Cancelled as requested")
    DECLINED = "declined", _("Declined: shipping anyway")


class BuyerCancelResolution(TenantModel):
    """How the merchant answered a buyer's cancellation request (B4): cancelled as requested,
    or declined (ship anyway) with a reason. Resolves the order's banner (B1)."""

    order = TenantForeignKey(
        Order,
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="buyer_cancel_resolutions",
    )
    # The request answered (Order.buyer_cancel_requested_at then): a later request is new.
    requested_at = models.DateTimeField(verbose_name=_("requested at"), null=True, blank=True)
    outcome = models.CharField(
        verbose_name=_("outcome"), max_length=16, choices=BuyerCancelOutcome.choices
    )
    reason = models.TextField(verbose_name=_("reason"), blank=True)
    refund = TenantForeignKey(
        Refund,
        verbose_name=_("refund"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    actor_type = models.CharField(
        verbose_name=_("actor type"), max_length=24, choices=ActorType.choices
    )
    actor = models.CharField(verbose_name=_("actor"), max_length=200, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("buyer cancel resolution")
        verbose_name_plural = _("buyer cancel resolutions")
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "order"], name="buyer_cancel_resolution")]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ({self.order_id})"
