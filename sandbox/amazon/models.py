"""The emulator's own state. Not tenant-owned: plain tables, no row-level security.

Times are the emulator's virtual time (``sandbox.amazon.clock``), always whole seconds, so that
what the API renders (second precision) is exactly what is stored.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class SandboxState(models.Model):
    """One row (pk=1): the virtual clock, the rate-limit switch, faults and timing settings.

    Kept in the database so that every process (server threads, test code, a second server)
    agrees on them.
    """

    clock_offset_seconds = models.BigIntegerField(default=0)
    rate_limits_enabled = models.BooleanField(default=True)
    faults = models.JSONField(default=list, blank=True)
    feed_queue_seconds = models.PositiveIntegerField(default=30)
    feed_processing_seconds = models.PositiveIntegerField(default=60)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "sandbox"

    @classmethod
    def load(cls) -> SandboxState:
        state = cls.objects.filter(pk=1).first()
        if state is None:
            state, _ = cls.objects.get_or_create(pk=1)
        return state

    def __str__(self) -> str:
        return f"sandbox state (clock +{self.clock_offset_seconds}s)"


class AmazonSeller(models.Model):
    """A selling partner: its LWA credentials, marketplaces and per-seller settings."""

    selling_partner_id = models.CharField(max_length=32, unique=True)
    name = models.CharField(max_length=200, blank=True)
    client_id = models.CharField(max_length=200)
    client_secret = models.CharField(max_length=200)
    refresh_token = models.CharField(max_length=300, unique=True)
    marketplace_ids = models.JSONField(default=list)
    token_ttl_seconds = models.PositiveIntegerField(default=3600)
    token_generation = models.PositiveIntegerField(default=0)
    auto_cancel_days = models.PositiveSmallIntegerField(default=30)
    rate_limit_overrides = models.JSONField(default=dict, blank=True)
    # The share of orders (0 to 1, the same orders every time: by a hash of the order id)
    # whose Orders 2026-01-01 items give their TAX proceeds without ``detailedBreakdowns``,
    # which Amazon's model makes optional (render.tax_detail_omitted). getOrderItems (v0)
    # always gives ItemTax and ShippingTax apart.
    tax_detail_omitted_share = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "sandbox"

    def __str__(self) -> str:
        return self.selling_partner_id


class AmazonOrder(models.Model):
    seller = models.ForeignKey(AmazonSeller, on_delete=models.CASCADE, related_name="orders")
    amazon_order_id = models.CharField(max_length=19)
    seller_order_id = models.CharField(max_length=64, blank=True)
    marketplace_id = models.CharField(max_length=32)
    status = models.CharField(max_length=20, default="Pending")
    fulfillment_channel = models.CharField(max_length=3, default="MFN")
    currency = models.CharField(max_length=3)
    purchase_date = models.DateTimeField()
    last_update_date = models.DateTimeField()
    ship_service_level = models.CharField(max_length=64, blank=True)
    shipment_service_level_category = models.CharField(max_length=32, default="Standard")
    order_type = models.CharField(max_length=32, default="StandardOrder")
    payment_method = models.CharField(max_length=8, default="Other")
    payment_method_details = models.JSONField(default=list)
    is_business_order = models.BooleanField(default=False)
    is_prime = models.BooleanField(default=False)
    is_premium_order = models.BooleanField(default=False)
    earliest_ship_date = models.DateTimeField()
    latest_ship_date = models.DateTimeField()
    earliest_delivery_date = models.DateTimeField()
    latest_delivery_date = models.DateTimeField()
    buyer_email = models.CharField(max_length=200, blank=True)
    buyer_name = models.CharField(max_length=200, blank=True)
    buyer_company_name = models.CharField(max_length=200, blank=True)
    purchase_order_number = models.CharField(max_length=64, blank=True)
    shipping_address = models.JSONField(default=dict)
    payment_authorized = models.BooleanField(default=False)
    canceled_by = models.CharField(max_length=10, blank=True)  # BUYER, MERCHANT, AMAZON
    cancel_reason = models.CharField(max_length=200, blank=True)
    # The order's script: what Amazon (or the buyer) does to it, and when (virtual time).
    pending_until = models.DateTimeField(null=True, blank=True)
    pending_outcome = models.CharField(max_length=12, default="Unshipped")  # or Canceled
    buyer_cancel_at = models.DateTimeField(null=True, blank=True)
    buyer_cancel_reason = models.CharField(max_length=200, blank=True)
    afn_ship_at = models.DateTimeField(null=True, blank=True)
    auto_cancel_at = models.DateTimeField(null=True, blank=True)
    next_event_at = models.DateTimeField(null=True, blank=True)
    generation_seed = models.CharField(max_length=64, blank=True)
    # The LastUpdateDate an ORDER_CHANGE notification was last sent for (notifications.py).
    notified_update_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "sandbox"
        constraints = [
            models.UniqueConstraint(
                fields=["seller", "amazon_order_id"], name="sandbox_amazon_order_unique"
            )
        ]
        indexes = [
            models.Index(fields=["seller", "last_update_date", "id"], name="sbx_amz_order_updated"),
            models.Index(fields=["seller", "purchase_date", "id"], name="sbx_amz_order_created"),
            models.Index(fields=["seller", "next_event_at"], name="sbx_amz_order_due"),
            models.Index(
                fields=["seller", "last_update_date"],
                condition=Q(notified_update_date__isnull=True)
                | Q(notified_update_date__lt=F("last_update_date")),
                name="sbx_amz_order_unnotified",
            ),
        ]

    def __str__(self) -> str:
        return self.amazon_order_id


class AmazonOrderItem(models.Model):
    order = models.ForeignKey(AmazonOrder, on_delete=models.CASCADE, related_name="items")
    order_item_id = models.CharField(max_length=20)
    position = models.PositiveSmallIntegerField(default=0)
    asin = models.CharField(max_length=10)
    seller_sku = models.CharField(max_length=64)
    title = models.CharField(max_length=300)
    quantity_ordered = models.PositiveIntegerField()
    quantity_shipped = models.PositiveIntegerField(default=0)
    quantity_canceled = models.PositiveIntegerField(default=0)
    # Line amounts (unit price x quantity), like Amazon's ItemPrice.
    item_price = models.DecimalField(max_digits=14, decimal_places=2)
    item_tax = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    shipping_price = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    shipping_tax = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    promotion_discount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    is_gift = models.BooleanField(default=False)
    condition_id = models.CharField(max_length=16, default="New")
    buyer_cancel_requested = models.BooleanField(default=False)
    buyer_cancel_reason = models.CharField(max_length=200, blank=True)
    buyer_cancel_requested_at = models.DateTimeField(null=True, blank=True)
    merchant_order_item_id = models.CharField(max_length=64, blank=True)

    class Meta:
        app_label = "sandbox"
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "order_item_id"], name="sandbox_amazon_item_unique"
            )
        ]

    @property
    def quantity_open(self) -> int:
        return self.quantity_ordered - self.quantity_shipped - self.quantity_canceled

    def __str__(self) -> str:
        return f"{self.order_item_id} x{self.quantity_ordered}"


class AmazonPackage(models.Model):
    """A confirmed shipment (confirmShipment), or Amazon's own for an AFN order."""

    order = models.ForeignKey(AmazonOrder, on_delete=models.CASCADE, related_name="packages")
    package_reference_id = models.CharField(max_length=64)
    carrier_code = models.CharField(max_length=64)
    carrier_name = models.CharField(max_length=64, blank=True)
    shipping_method = models.CharField(max_length=64, blank=True)
    tracking_number = models.CharField(max_length=64)
    ship_date = models.DateTimeField()
    items = models.JSONField(default=list)  # [{"orderItemId": ..., "quantity": ...}]
    shipped_by = models.CharField(max_length=8, default="SELLER")  # or AMAZON
    created_at = models.DateTimeField()  # virtual time of the confirmation (posting date)

    class Meta:
        app_label = "sandbox"
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "package_reference_id"], name="sandbox_amazon_package_unique"
            )
        ]

    def __str__(self) -> str:
        return self.package_reference_id


class AmazonAdjustment(models.Model):
    """One refunded component of one item (a payment-adjustment feed or Seller Central)."""

    order = models.ForeignKey(AmazonOrder, on_delete=models.CASCADE, related_name="adjustments")
    item = models.ForeignKey(AmazonOrderItem, on_delete=models.CASCADE, related_name="adjustments")
    adjustment_id = models.CharField(max_length=40)
    merchant_adjustment_item_id = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16)  # feed, seller_central
    reason = models.CharField(max_length=64, blank=True)
    component = models.CharField(max_length=32)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    quantity = models.PositiveIntegerField(null=True, blank=True)
    posted_date = models.DateTimeField()
    feed = models.ForeignKey("AmazonFeed", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        app_label = "sandbox"
        ordering = ["posted_date", "id"]

    def __str__(self) -> str:
        return f"{self.adjustment_id} {self.component} {self.amount}"


class AmazonFeedDocument(models.Model):
    seller = models.ForeignKey(AmazonSeller, on_delete=models.CASCADE, related_name="documents")
    document_id = models.CharField(max_length=64, unique=True)
    content_type = models.CharField(max_length=200)
    content = models.BinaryField(null=True, blank=True)
    uploaded = models.BooleanField(default=False)
    is_result = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        app_label = "sandbox"

    def __str__(self) -> str:
        return self.document_id


class AmazonFeed(models.Model):
    seller = models.ForeignKey(AmazonSeller, on_delete=models.CASCADE, related_name="feeds")
    feed_id = models.CharField(max_length=32, unique=True)
    feed_type = models.CharField(max_length=100)
    marketplace_ids = models.JSONField(default=list)
    feed_options = models.JSONField(default=dict, blank=True)
    input_document = models.ForeignKey(
        AmazonFeedDocument, on_delete=models.PROTECT, related_name="input_of"
    )
    result_document = models.ForeignKey(
        AmazonFeedDocument,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="result_of",
    )
    status = models.CharField(max_length=12, default="IN_QUEUE")
    created_time = models.DateTimeField()
    start_at = models.DateTimeField()
    end_at = models.DateTimeField()
    processing_start_time = models.DateTimeField(null=True, blank=True)
    processing_end_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "sandbox"
        ordering = ["created_time", "id"]
        indexes = [models.Index(fields=["seller", "status"], name="sbx_amz_feed_status")]

    def __str__(self) -> str:
        return self.feed_id


class AmazonDestination(models.Model):
    """A Notifications API destination of an application (an LWA client): an SQS queue."""

    client_id = models.CharField(max_length=200, db_index=True)
    destination_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=256)
    sqs_arn = models.CharField(max_length=1000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "sandbox"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.sqs_arn})"


class AmazonSubscription(models.Model):
    """A seller's subscription to one notification type, delivered to a destination."""

    seller = models.ForeignKey(AmazonSeller, on_delete=models.CASCADE, related_name="subscriptions")
    notification_type = models.CharField(max_length=64)
    subscription_id = models.CharField(max_length=64, unique=True)
    destination = models.ForeignKey(
        AmazonDestination, on_delete=models.CASCADE, related_name="subscriptions"
    )
    payload_version = models.CharField(max_length=16, default="1.0")
    processing_directive = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "sandbox"
        constraints = [
            models.UniqueConstraint(
                fields=["seller", "notification_type"], name="sandbox_subscription_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.seller_id} {self.notification_type} -> {self.destination_id}"


class AmazonQueueMessage(models.Model):
    """A message in an emulated SQS queue (``sqs.py``). Times are real time, as on AWS."""

    queue_arn = models.CharField(max_length=1000)
    message_id = models.CharField(max_length=64, unique=True)
    body = models.TextField()
    sent_at = models.DateTimeField()
    visible_at = models.DateTimeField()
    receive_count = models.PositiveIntegerField(default=0)
    receipt_handle = models.CharField(max_length=128, blank=True)

    class Meta:
        app_label = "sandbox"
        ordering = ["sent_at", "id"]
        indexes = [models.Index(fields=["queue_arn", "visible_at"], name="sbx_queue_visible")]

    def __str__(self) -> str:
        return self.message_id


class AmazonApplication(models.Model):
    """A developer's SP-API application (Solution Provider Portal): its LWA client and the
    redirect URIs Seller Central may send a seller back to (the website authorization
    workflow, ``sandbox/amazon/consent.py``). A new application is a draft, as on Amazon: its
    consent URI needs ``version=beta`` until it is published."""

    application_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=200, blank=True)
    client_id = models.CharField(max_length=200, unique=True)
    client_secret = models.CharField(max_length=200)
    redirect_uris = models.JSONField(default=list)
    draft = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "sandbox"

    def __str__(self) -> str:
        return self.application_id


class AmazonAuthorizationCode(models.Model):
    """What Seller Central hands the application when a seller consents: valid once, for five
    minutes of virtual time, with the redirect URI it was sent to."""

    code = models.CharField(max_length=100, unique=True)
    application = models.ForeignKey(
        AmazonApplication, on_delete=models.CASCADE, related_name="codes"
    )
    seller = models.ForeignKey(AmazonSeller, on_delete=models.CASCADE, related_name="codes")
    redirect_uri = models.CharField(max_length=2000)
    created_at = models.DateTimeField()  # virtual time
    expires_at = models.DateTimeField()  # virtual time
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "sandbox"

    def __str__(self) -> str:
        return f"code for {self.seller_id} -> {self.application_id}"


class AmazonAuthorization(models.Model):
    """A seller's authorization of an application: the refresh token LWA issued for it. It
    works with the application's client and stands for the seller like the seller's own
    token; revoking it (the seller removes the app in Manage Your Apps) makes it
    ``invalid_grant``."""

    seller = models.ForeignKey(
        AmazonSeller, on_delete=models.CASCADE, related_name="authorizations"
    )
    application = models.ForeignKey(
        AmazonApplication, on_delete=models.CASCADE, related_name="authorizations"
    )
    refresh_token = models.CharField(max_length=300, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "sandbox"
        indexes = [models.Index(fields=["seller", "application"], name="sbx_amz_authorization")]

    def __str__(self) -> str:
        return f"{self.seller_id} authorized {self.application_id}"
