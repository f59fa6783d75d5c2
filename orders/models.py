"""Orders, their lines, and the order timeline (rule F12)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from foundation.i18n import localize
from foundation.text import Text
from integrations.amazon.marketplaces import seller_central_order_url
from tenants.models import (
    AmazonAccount,
    TenantForeignKey,
    TenantModel,
    TenantOneToOneField,
    merchant_key,
    validate_time_zone,
)

MONEY = {"max_digits": 14, "decimal_places": 2, "default": 0}


class Channel(models.TextChoices):
    AMAZON = "amazon", _("Amazon")
    SHOPIFY = "shopify", _("Shopify")
    MANUAL = "manual", _("Manual")


class AmazonOrderStatus(models.TextChoices):
    """Amazon's OrderStatus (Orders API v0)."""

    PENDING_AVAILABILITY = "PendingAvailability", _("Pending availability")
    PENDING = "Pending", _("Pending")
    UNSHIPPED = "Unshipped", _("Unshipped")
    PARTIALLY_SHIPPED = "PartiallyShipped", _("Partially shipped")
    SHIPPED = "Shipped", _("Shipped")
    CANCELED = "Canceled", _("Canceled")
    UNFULFILLABLE = "Unfulfillable", _("Unfulfillable")
    INVOICE_UNCONFIRMED = "InvoiceUnconfirmed", _("Invoice unconfirmed")


class FulfillmentChannel(models.TextChoices):
    MFN = "MFN", _("Merchant fulfilled")
    AFN = "AFN", _("Fulfilled by Amazon")


class FulfillmentStatus(models.TextChoices):
    """Derived from the lines (rule F7): fulfilled only when every line is."""

    UNFULFILLED = "unfulfilled", _("Unfulfilled")
    IN_PROGRESS = "in_progress", _("In progress")
    PARTIALLY_FULFILLED = "partially_fulfilled", _("Partially fulfilled")
    FULFILLED = "fulfilled", _("Fulfilled")


class ShipmentConfirmation(models.TextChoices):
    """Shipment confirmation to Amazon (rules R3, A7): none yet, sent, or acknowledged."""

    NONE = "none", _("Not sent")
    SENT = "sent", _("Sent to Amazon")
    CONFIRMED = "confirmed", _("Confirmed by Amazon")


class FinancialStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    PAID = "paid", _("Paid")
    PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
    REFUNDED = "refunded", _("Refunded")
    VOIDED = "voided", _("Voided")


class ShopifyState(models.TextChoices):
    """Where the order's mirror in the merchant's Shopify store is (orders/shopify_mirror.py)."""

    NOT_APPLICABLE = "not_applicable", _("Not mirrored (no Shopify store)")
    PENDING = "pending", _("Waiting to be created in Shopify")
    SYNCED = "synced", _("In Shopify")
    FAILED = "failed", _("Shopify refused it")


class Order(TenantModel):
    # The primary key (merchant_id, id) and the indexes below serve every read by merchant; the
    # sync writes one index less per order (docs/benchmarks.md, "Sync: ingest").
    merchant = merchant_key(db_index=False)
    channel = models.CharField(
        verbose_name=_("channel"), max_length=16, choices=Channel.choices, default=Channel.AMAZON
    )
    amazon_account = TenantForeignKey(
        AmazonAccount,
        verbose_name=_("amazon account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="orders",
    )
    # Amazon's order id (AmazonOrderId) for Amazon orders; the order number for others.
    external_id = models.CharField(verbose_name=_("external id"), max_length=64)
    marketplace_id = models.CharField(verbose_name=_("marketplace id"), max_length=32, blank=True)
    sales_channel = models.CharField(verbose_name=_("sales channel"), max_length=64, blank=True)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=24,
        choices=AmazonOrderStatus.choices,
        default=AmazonOrderStatus.PENDING,
    )
    fulfillment_channel = models.CharField(
        verbose_name=_("fulfillment channel"),
        max_length=3,
        choices=FulfillmentChannel.choices,
        default=FulfillmentChannel.MFN,
    )
    fulfillment_status = models.CharField(
        verbose_name=_("fulfillment status"),
        max_length=24,
        choices=FulfillmentStatus.choices,
        default=FulfillmentStatus.UNFULFILLED,
    )
    financial_status = models.CharField(
        verbose_name=_("financial status"),
        max_length=24,
        choices=FinancialStatus.choices,
        default=FinancialStatus.PENDING,
    )
    order_type = models.CharField(verbose_name=_("order type"), max_length=32, blank=True)
    ship_service_level = models.CharField(
        verbose_name=_("ship service level"), max_length=64, blank=True
    )
    is_prime = models.BooleanField(verbose_name=_("is prime"), default=False)
    is_business_order = models.BooleanField(verbose_name=_("is business order"), default=False)
    is_premium_order = models.BooleanField(verbose_name=_("is premium order"), default=False)

    purchase_date = models.DateTimeField(verbose_name=_("purchase date"))
    # Amazon's LastUpdateDate: the sync's change marker.
    source_updated_at = models.DateTimeField(verbose_name=_("source updated at"))
    earliest_ship_date = models.DateTimeField(
        verbose_name=_("earliest ship date"), null=True, blank=True
    )
    latest_ship_date = models.DateTimeField(
        verbose_name=_("latest ship date"), null=True, blank=True
    )
    earliest_delivery_date = models.DateTimeField(
        verbose_name=_("earliest delivery date"), null=True, blank=True
    )
    latest_delivery_date = models.DateTimeField(
        verbose_name=_("latest delivery date"), null=True, blank=True
    )

    currency = models.CharField(verbose_name=_("currency"), max_length=3)
    total_amount = models.DecimalField(verbose_name=_("total amount"), **MONEY)

    buyer_name = models.CharField(verbose_name=_("buyer name"), max_length=200, blank=True)
    # Kept for reference only: rule R4, we never write to an Amazon buyer.
    buyer_email = models.CharField(verbose_name=_("buyer email"), max_length=254, blank=True)
    buyer_cancel_requested = models.BooleanField(
        verbose_name=_("buyer cancel requested"), default=False
    )
    buyer_cancel_reason = models.CharField(
        verbose_name=_("buyer cancel reason"), max_length=200, blank=True
    )
    buyer_cancel_requested_at = models.DateTimeField(
        verbose_name=_("buyer cancel requested at"), null=True, blank=True
    )
    shipping_address = models.JSONField(
        verbose_name=_("shipping address"), default=dict, blank=True
    )

    shipment_confirmation = models.CharField(
        verbose_name=_("shipment confirmation"),
        max_length=16,
        choices=ShipmentConfirmation.choices,
        default=ShipmentConfirmation.NONE,
    )

    # Policy deadlines (orders/policy.py), stored so the sweep touches only what is due; written
    # by the sync's upsert (orders.services.upsert_amazon_orders, with the order's row) and by
    # orders.services.recompute_deadlines, None when the order does not need them (shipped,
    # confirmed, cancelled, AFN). The flags are set once by the sweep (with a timeline event and
    # a notification) and cleared by recompute_deadlines when they no longer hold.
    ship_by = models.DateTimeField(verbose_name=_("ship by"), null=True, blank=True)
    confirm_by = models.DateTimeField(verbose_name=_("confirm by"), null=True, blank=True)
    warn_at = models.DateTimeField(verbose_name=_("warn at"), null=True, blank=True)
    warned_at = models.DateTimeField(verbose_name=_("warned at"), null=True, blank=True)
    verify_by = models.DateTimeField(
        verbose_name=_("verify by"),
        null=True,
        blank=True,
        help_text=_("While Pending: the end of Amazon's 21 days (rule A2)."),
    )
    is_late = models.BooleanField(
        verbose_name=_("is late"), default=False, help_text=_("Not shipped by its ship-by date.")
    )
    auto_cancel_expected = models.BooleanField(
        verbose_name=_("auto cancel expected"),
        default=False,
        help_text=_("Not confirmed by its deadline: Amazon cancels it (rule A8)."),
    )
    pending_too_long = models.BooleanField(
        verbose_name=_("pending too long"),
        default=False,
        help_text=_("Pending past Amazon's 21-day verification (rule A2)."),
    )

    # The order's mirror in the merchant's Shopify store (R1, R3, R4): written only by
    # orders/shopify_mirror.py, the Shopify id in the transaction of the outbox's ack.
    shopify_state = models.CharField(
        verbose_name=_("shopify state"),
        max_length=16,
        choices=ShopifyState.choices,
        default=ShopifyState.NOT_APPLICABLE,
    )
    shopify_order_id = models.CharField(
        verbose_name=_("shopify order id"), max_length=100, blank=True
    )  # gid://shopify/Order/...
    shopify_order_name = models.CharField(
        verbose_name=_("shopify order name"), max_length=64, blank=True
    )  # "#1001"
    shopify_admin_url = models.CharField(
        verbose_name=_("shopify admin url"), max_length=300, blank=True
    )
    shopify_last_error = models.TextField(verbose_name=_("shopify last error"), blank=True)

    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "channel", "external_id"], name="order_unique_external_id"
            )
        ]
        indexes = [
            # Cursor pagination (-id) within a merchant: the primary key (merchant_id, id), read
            # backwards. Then the common filters.
            # The portal's order list (newest purchase first) and the orders-per-day chart.
            models.Index(
                fields=["merchant", "-purchase_date", "-id"], name="order_merchant_purchased"
            ),
            models.Index(fields=["merchant", "status", "-id"], name="order_merchant_status"),
            models.Index(fields=["merchant", "updated_at"], name="order_merchant_updated"),
            models.Index(
                fields=["merchant", "fulfillment_status", "-id"], name="order_merchant_fstatus"
            ),
            models.Index(
                fields=["merchant", "-id"],
                name="order_buyer_cancel",
                condition=Q(buyer_cancel_requested=True),
            ),
            # The API's at_risk filter (orders.selectors.at_risk_filter: confirmation due, warning
            # given or due) pages through a merchant's unconfirmed orders only, newest first,
            # instead of all its orders (docs/benchmarks.md, "API at scale").
            models.Index(
                fields=["merchant", "-id"],
                name="order_merchant_unconfirmed",
                condition=Q(confirm_by__isnull=False),
            ),
            # The at_risk filter (orders.selectors.at_risk_filter) as two exact halves, read
            # together (a bitmap OR): warned and unconfirmed, or not yet warned with the warning
            # due. Without them a page of at-risk orders read every unconfirmed order's row.
            models.Index(
                fields=["merchant", "-id"],
                name="order_merchant_warned",
                condition=Q(confirm_by__isnull=False, warned_at__isnull=False),
            ),
            models.Index(
                fields=["merchant", "warn_at"],
                name="order_merchant_warn_due",
                condition=Q(confirm_by__isnull=False, warned_at__isnull=True),
            ),
            # The policy sweep's work lists: each partial index holds only the orders that still
            # await that step, ordered by when it comes due, so a sweep reads the due ones only.
            # merchant_id second: the per-merchant pass filters on the index, not the heap.
            models.Index(
                fields=["warn_at", "merchant"],
                name="order_warn_due",
                condition=Q(warned_at__isnull=True, warn_at__isnull=False),
            ),
            models.Index(
                fields=["ship_by", "merchant"],
                name="order_late_due",
                condition=Q(is_late=False, ship_by__isnull=False),
            ),
            models.Index(
                fields=["confirm_by", "merchant"],
                name="order_auto_cancel_due",
                condition=Q(auto_cancel_expected=False, confirm_by__isnull=False),
            ),
            models.Index(
                fields=["verify_by", "merchant"],
                name="order_verify_due",
                condition=Q(pending_too_long=False, verify_by__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return self.external_id

    @property
    def is_amazon(self) -> bool:
        return self.channel == Channel.AMAZON

    @property
    def is_afn(self) -> bool:
        return self.fulfillment_channel == FulfillmentChannel.AFN

    @property
    def seller_central_url(self) -> str:
        """Where the merchant reads buyer messages for this order (rule R2)."""

        return seller_central_order_url(self.marketplace_id, self.external_id)


class OrderLine(TenantModel):
    merchant = merchant_key(db_index=False)  # the primary key (merchant_id, id) serves it
    order = TenantForeignKey(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="lines"
    )
    # Amazon's OrderItemId.
    external_id = models.CharField(verbose_name=_("external id"), max_length=64)
    sku = models.CharField(verbose_name=_("sku"), max_length=200, blank=True)
    asin = models.CharField(verbose_name=_("asin"), max_length=32, blank=True)
    title = models.TextField(verbose_name=_("title"), blank=True)
    quantity_ordered = models.PositiveIntegerField(verbose_name=_("quantity ordered"), default=0)
    quantity_shipped = models.PositiveIntegerField(verbose_name=_("quantity shipped"), default=0)
    # Money of the line as Amazon reports it (ItemPrice is for the whole quantity).
    item_price = models.DecimalField(verbose_name=_("item price"), **MONEY)
    item_tax = models.DecimalField(verbose_name=_("item tax"), **MONEY)
    shipping_price = models.DecimalField(verbose_name=_("shipping price"), **MONEY)
    shipping_tax = models.DecimalField(verbose_name=_("shipping tax"), **MONEY)
    promotion_discount = models.DecimalField(verbose_name=_("promotion discount"), **MONEY)
    buyer_cancel_requested = models.BooleanField(
        verbose_name=_("buyer cancel requested"), default=False
    )
    buyer_cancel_reason = models.CharField(
        verbose_name=_("buyer cancel reason"), max_length=200, blank=True
    )
    # Amazon gave the line's tax as one figure (searchOrders without the TAX breakdown's
    # detail) although it has a shipping charge: ``item_tax`` holds all of it, ``shipping_tax``
    # is 0, and how it divides is not known until getOrderItems (v0) says (orders/tax_splits.py).
    # A refund that would take from the line is refused meanwhile (refunds.policy,
    # ``tax_split_pending``).
    # A default in the database too: code that does not know the column yet (workers of the
    # release before, during a rolling deploy; raw inserts) still writes lines.
    tax_split_pending = models.BooleanField(
        verbose_name=_("tax split pending"),
        default=False,
        db_default=False,
        help_text=_(
            "Amazon has not yet said how the tax divides between the item and its shipping."
        ),
    )
    # When the sync last asked getOrderItems for the split and got no answer that gives it
    # (None: not asked since Amazon last changed the line): it asks again after a while.
    tax_split_asked_at = models.DateTimeField(
        verbose_name=_("tax split asked at"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "order", "external_id"], name="order_line_unique_item"
            )
        ]
        indexes = [
            models.Index(fields=["merchant", "sku"], name="order_line_sku"),
            # The sync's work list of splits to ask Amazon for: only the lines waiting for one.
            models.Index(
                fields=["merchant", "order"],
                name="order_line_tax_split_pending",
                condition=Q(tax_split_pending=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku or self.asin} × {self.quantity_ordered}"


class EventKind(models.TextChoices):
    IMPORTED = "imported", _("Imported from Amazon")
    STATUS_CHANGED = "status_changed", _("Status changed")
    BUYER_CANCEL_REQUESTED = "buyer_cancel_requested", _("Buyer asked to cancel")
    DEADLINE_WARNING = "deadline_warning", _("Deadline warning")
    SHIP_BY_PASSED = "ship_by_passed", _("Ship-by date passed")
    AUTO_CANCEL_EXPECTED = "auto_cancel_expected", _("Amazon cancels unconfirmed orders")
    PENDING_TOO_LONG = "pending_too_long", _("Pending for over 21 days")
    NOTE = "note", _("Note")
    FULFILLMENT_REQUESTED = "fulfillment_requested", _("Fulfillment requested")
    FULFILLMENT_ACCEPTED = "fulfillment_accepted", _("Fulfillment accepted")
    FULFILLMENT_REJECTED = "fulfillment_rejected", _("Fulfillment rejected")
    CANCELLATION_REQUESTED = "cancellation_requested", _("Cancellation requested")
    CANCELLATION_ACCEPTED = "cancellation_accepted", _("Cancellation accepted")
    CANCELLATION_REJECTED = "cancellation_rejected", _("Cancellation rejected")
    FULFILLED = "fulfilled", _("Fulfilled")
    REVERTED = "reverted", _("Reverted to unfulfilled")
    SHIPMENT_CONFIRMED = "shipment_confirmed", _("Shipment confirmed on Amazon")
    REFUND_CREATED = "refund_created", _("Refund created")
    REFUND_SUCCEEDED = "refund_succeeded", _("Refund succeeded")
    REFUND_FAILED = "refund_failed", _("Refund failed")
    EXTERNAL_REFUND = "external_refund", _("Refunded on Amazon")
    ORDER_CANCELLED = "order_cancelled", _("Order cancelled")
    OUTBOX = "outbox", _("Message to a partner")


class ActorType(models.TextChoices):
    SYSTEM = "system", _("Keelson")
    AMAZON = "amazon", _("Amazon")
    USER = "user", _("Person")
    API_KEY = "api_key", _("API key")
    FULFILLMENT_SERVICE = "fulfillment_service", _("Fulfillment service")


class OrderEvent(TenantModel):
    """One entry of an order's timeline. Append-only: a trigger refuses updates."""

    # The primary key (merchant_id, id) serves reads by merchant, the timeline's index
    # (order_id, created_at) reads by order.
    merchant = merchant_key(db_index=False)
    order = TenantForeignKey(
        Order,
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="events",
        db_index=False,
    )
    kind = models.CharField(verbose_name=_("kind"), max_length=32, choices=EventKind.choices)
    message = models.TextField(verbose_name=_("message"))
    actor_type = models.CharField(
        verbose_name=_("actor type"),
        max_length=24,
        choices=ActorType.choices,
        default=ActorType.SYSTEM,
    )
    actor = models.CharField(verbose_name=_("actor"), max_length=200, blank=True)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    data = models.JSONField(verbose_name=_("data"), default=dict, blank=True)
    # The message's template and parameters (foundation.text.Text), so each reader sees it in
    # their own language (display_message); ``message`` keeps the English text.
    message_i18n = models.JSONField(verbose_name=_("message i18n"), default=dict, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("order event")
        verbose_name_plural = _("order events")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["order", "created_at"], name="order_event_timeline")]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if isinstance(self.message, Text) and not self.message_i18n:
            self.message_i18n = self.message.to_json()

    @property
    def display_message(self) -> str:
        """The message in the active language (the stored English text for older rows)."""
        if not self.message_i18n:
            return self.message
        try:
            return localize(Text.from_json(self.message_i18n))
        except (KeyError, TypeError, ValueError):
            return self.message

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.message[:60]}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError("Order events are append-only.")
        super().save(*args, **kwargs)


class MarketplacePolicy(models.Model):
    """Amazon's shipment-confirmation horizon on one marketplace (rule A8), kept as data.

    The deadline is ``confirm_days_after_order`` days after the order date or, when set,
    ``confirm_business_days_after_ship_by`` business days after the ship-by date; the earlier
    wins. Days are counted on the marketplace's ``time_zone`` clock. Marketplaces without a row
    use 30 days after the order date. Global (not tenant-owned): Amazon's rules, not a merchant's.
    """

    marketplace_id = models.CharField(verbose_name=_("marketplace id"), max_length=32, unique=True)
    name = models.CharField(verbose_name=_("name"), max_length=100)
    confirm_days_after_order = models.PositiveSmallIntegerField(
        verbose_name=_("confirm days after order"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
    )
    confirm_business_days_after_ship_by = models.PositiveSmallIntegerField(
        verbose_name=_("confirm business days after ship by"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("Amazon.co.uk: 7 (from 30 September 2020). Empty: no such rule."),
    )
    time_zone = models.CharField(
        verbose_name=_("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("marketplace policy")
        ordering = ["name"]
        verbose_name_plural = _("marketplace policies")

    def __str__(self) -> str:
        return f"{self.name} ({self.marketplace_id})"


class AmazonSyncState(TenantModel):
    """Where the Amazon order sync of one account stands (orders/sync.py).

    Two lanes. The *live* lane reads orders changed since the account's cursor
    (``AmazonAccount.sync_cursor``, on Amazon's clock) in windows: a window is opened at the
    cursor minus an overlap, its end is the ``LastUpdatedBefore`` Amazon applied, and its page
    token is kept here so a killed run resumes on the same page. The *backfill* lane reads the
    orders changed in the days before the account was connected, with searchOrders, keeping its
    own token and position; its progress is shown in the portal and the API. Written only by
    the holder of the account's lease, page by page, in the transaction that upserts the page.
    """

    class Api(models.TextChoices):
        V0 = "v0", _("Orders v0 (getOrders + getOrderItems)")
        V2026 = "2026-01-01", _("Orders 2026-01-01 (searchOrders, items included)")

    account = TenantOneToOneField(
        AmazonAccount,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="sync_state",
    )
    # Live lane: the window in progress (None: none open).
    window_api = models.CharField(
        verbose_name=_("window api"), max_length=10, choices=Api.choices, default=Api.V0
    )
    window_start = models.DateTimeField(verbose_name=_("window start"), null=True, blank=True)
    window_end = models.DateTimeField(verbose_name=_("window end"), null=True, blank=True)
    window_token = models.TextField(verbose_name=_("window token"), blank=True)
    window_position = models.DateTimeField(
        verbose_name=_("window position"),
        null=True,
        blank=True,
        help_text=_("LastUpdateDate of the last order committed."),
    )
    # Amazon's clock minus ours, from the last LastUpdatedBefore Amazon returned (+ 2 minutes).
    clock_offset_seconds = models.FloatField(verbose_name=_("clock offset seconds"), default=0)

    # Backfill lane.
    backfill_days = models.PositiveSmallIntegerField(verbose_name=_("backfill days"), default=0)
    backfill_from = models.DateTimeField(verbose_name=_("backfill from"), null=True, blank=True)
    backfill_to = models.DateTimeField(
        verbose_name=_("backfill to"),
        null=True,
        blank=True,
        help_text=_("Amazon's LastUpdatedBefore on the first page."),
    )
    backfill_token = models.TextField(verbose_name=_("backfill token"), blank=True)
    backfill_position = models.DateTimeField(
        verbose_name=_("backfill position"), null=True, blank=True
    )
    backfill_pages = models.PositiveIntegerField(verbose_name=_("backfill pages"), default=0)
    backfill_orders = models.PositiveIntegerField(verbose_name=_("backfill orders"), default=0)
    backfill_started_at = models.DateTimeField(
        verbose_name=_("backfill started at"), null=True, blank=True
    )
    backfill_finished_at = models.DateTimeField(
        verbose_name=_("backfill finished at"), null=True, blank=True
    )

    # Runs.
    pages = models.PositiveBigIntegerField(verbose_name=_("pages"), default=0)
    orders_seen = models.PositiveBigIntegerField(verbose_name=_("orders seen"), default=0)
    orders_changed = models.PositiveBigIntegerField(verbose_name=_("orders changed"), default=0)
    last_run_at = models.DateTimeField(verbose_name=_("last run at"), null=True, blank=True)
    last_success_at = models.DateTimeField(verbose_name=_("last success at"), null=True, blank=True)
    last_change_at = models.DateTimeField(
        verbose_name=_("last change at"),
        null=True,
        blank=True,
        help_text=_("When a page last created or changed an order."),
    )
    last_outcome = models.CharField(verbose_name=_("last outcome"), max_length=32, blank=True)
    last_error = models.TextField(verbose_name=_("last error"), blank=True)
    last_error_at = models.DateTimeField(verbose_name=_("last error at"), null=True, blank=True)
    failures = models.PositiveSmallIntegerField(
        verbose_name=_("failures"),
        default=0,
        help_text=_("Failed runs in a row (transient errors): the backoff."),
    )

    # Push lane: Amazon's ORDER_CHANGE notifications (orders/order_changes.py).
    order_change_subscription_id = models.CharField(
        verbose_name=_("order change subscription id"), max_length=64, blank=True
    )
    order_change_queue_arn = models.CharField(
        verbose_name=_("order change queue arn"),
        max_length=1000,
        blank=True,
        help_text=_("The SQS queue the subscription delivers to."),
    )
    order_change_subscribed_at = models.DateTimeField(
        verbose_name=_("order change subscribed at"), null=True, blank=True
    )
    notifications_received = models.PositiveBigIntegerField(
        verbose_name=_("notifications received"), default=0
    )
    last_notification_at = models.DateTimeField(
        verbose_name=_("last notification at"), null=True, blank=True
    )
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("Amazon sync state")
        verbose_name_plural = _("Amazon sync states")
        constraints = [
            # One state per account (TenantOneToOneField: unique with the merchant).
            models.UniqueConstraint(fields=["merchant", "account"], name="amazon_sync_state_unique")
        ]

    def __str__(self) -> str:
        return f"sync of {self.account_id}"

    @property
    def backfilling(self) -> bool:
        return self.backfill_from is not None and self.backfill_finished_at is None
