"""The Shopify emulator's own state. Not tenant-owned: plain tables, no row-level security.

Times of things that happen in the store (orders, fulfillments, refunds) are the emulator's
virtual time (the same clock as the Amazon emulator, ``sandbox.amazon.clock``); webhook
delivery attempts are scheduled in real time (a receiver's back-off is about wall time).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class ShopifySandboxState(models.Model):
    """One row (pk=1): faults and the webhook retry schedule, shared by every process."""

    faults = models.JSONField(default=list, blank=True)
    # Seconds to wait before each retry of a failed webhook delivery; its length bounds the
    # retries (docs/sandbox-shopify.md). None: the default schedule (webhooks.DEFAULT_RETRY).
    webhook_retry_schedule = models.JSONField(null=True, blank=True)
    webhook_timeout_seconds = models.FloatField(default=5.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "sandbox"

    @classmethod
    def load(cls) -> ShopifySandboxState:
        state = cls.objects.filter(pk=1).first()
        if state is None:
            state, _ = cls.objects.get_or_create(pk=1)
        return state

    def __str__(self) -> str:
        return "shopify sandbox state"


class ShopifyStore(models.Model):
    """A shop with one installed app: its Admin API access token and the app's client secret
    (which signs webhooks), and the app's cost bucket settings."""

    domain = models.CharField(max_length=255, unique=True)  # keelson-test.myshopify.com
    name = models.CharField(max_length=200, blank=True)
    access_token = models.CharField(max_length=200, unique=True)
    client_secret = models.CharField(max_length=200)
    currency_code = models.CharField(max_length=3, default="USD")
    iana_timezone = models.CharField(max_length=64, default="America/New_York")
    throttling_enabled = models.BooleanField(default=True)
    bucket_maximum = models.FloatField(default=2000.0)
    restore_rate = models.FloatField(default=100.0)
    next_order_number = models.PositiveIntegerField(default=1001)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "sandbox"

    def __str__(self) -> str:
        return self.domain


class ShopifyOrder(models.Model):
    store = models.ForeignKey(ShopifyStore, on_delete=models.CASCADE, related_name="orders")
    number = models.PositiveIntegerField()
    email = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    source_name = models.CharField(max_length=100, blank=True)
    source_identifier = models.CharField(max_length=200, blank=True)
    source_url = models.CharField(max_length=500, blank=True)
    tags = models.JSONField(default=list)
    currency = models.CharField(max_length=3)
    test = models.BooleanField(default=False)
    shipping_address = models.JSONField(null=True, blank=True)
    billing_address = models.JSONField(null=True, blank=True)
    shipping_lines = models.JSONField(default=list)  # [{"title", "code", "amount"}]
    inventory_behaviour = models.CharField(max_length=32, default="BYPASS")
    send_receipt = models.BooleanField(default=False)
    send_fulfillment_receipt = models.BooleanField(default=False)
    processed_at = models.DateTimeField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=16, blank=True)
    created_by = models.CharField(max_length=8, default="api")  # api | admin

    class Meta:
        app_label = "sandbox"
        constraints = [
            models.UniqueConstraint(fields=["store", "number"], name="sbx_shop_order_number")
        ]
        indexes = [
            models.Index(fields=["store", "source_identifier"], name="sbx_shop_order_source"),
            models.Index(fields=["store", "updated_at", "id"], name="sbx_shop_order_updated"),
        ]

    @property
    def name(self) -> str:
        return f"#{self.number}"

    @property
    def shipping_total(self) -> Decimal:
        return sum((Decimal(str(s["amount"])) for s in self.shipping_lines), Decimal("0"))

    def __str__(self) -> str:
        return f"{self.store_id}:{self.name}"


class ShopifyLineItem(models.Model):
    order = models.ForeignKey(ShopifyOrder, on_delete=models.CASCADE, related_name="line_items")
    position = models.PositiveIntegerField()
    sku = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=500)
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=14, decimal_places=2)
    fulfilled_quantity = models.PositiveIntegerField(default=0)
    refunded_quantity = models.PositiveIntegerField(default=0)

    class Meta:
        app_label = "sandbox"
        ordering = ["position", "id"]

    @property
    def current_quantity(self) -> int:
        return self.quantity - self.refunded_quantity

    @property
    def unfulfilled_quantity(self) -> int:
        return max(0, self.current_quantity - self.fulfilled_quantity)

    def __str__(self) -> str:
        return f"{self.sku or self.title} x{self.quantity}"


class ShopifyFulfillment(models.Model):
    order = models.ForeignKey(ShopifyOrder, on_delete=models.CASCADE, related_name="fulfillments")
    status = models.CharField(max_length=16, default="SUCCESS")
    tracking_company = models.CharField(max_length=200, blank=True)
    tracking_number = models.CharField(max_length=200, blank=True)
    tracking_url = models.CharField(max_length=500, blank=True)
    notify_customer = models.BooleanField(default=False)
    message = models.TextField(blank=True)
    lines = models.JSONField(default=list)  # [{"line_item_id": pk, "quantity": n}]
    created_by = models.CharField(max_length=8, default="api")
    created_at = models.DateTimeField()

    class Meta:
        app_label = "sandbox"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"fulfillment {self.pk} of order {self.order_id}"


class ShopifyRefund(models.Model):
    order = models.ForeignKey(ShopifyOrder, on_delete=models.CASCADE, related_name="refunds")
    note = models.TextField(blank=True)
    notify = models.BooleanField(default=False)
    shipping_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    # [{"line_item_id": pk, "quantity": n, "restock_type": "...", "subtotal": "1.00"}]
    lines = models.JSONField(default=list)
    created_by = models.CharField(max_length=8, default="api")
    created_at = models.DateTimeField()

    class Meta:
        app_label = "sandbox"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"refund {self.pk} of order {self.order_id}"


class ShopifyTransaction(models.Model):
    order = models.ForeignKey(ShopifyOrder, on_delete=models.CASCADE, related_name="transactions")
    refund = models.ForeignKey(
        ShopifyRefund, null=True, blank=True, on_delete=models.CASCADE, related_name="transactions"
    )
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=24)
    status = models.CharField(max_length=24, default="SUCCESS")
    gateway = models.CharField(max_length=100, default="manual")
    test = models.BooleanField(default=False)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    processed_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        app_label = "sandbox"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount}"


class ShopifyWebhookSubscription(models.Model):
    store = models.ForeignKey(
        ShopifyStore, on_delete=models.CASCADE, related_name="webhook_subscriptions"
    )
    topic = models.CharField(max_length=32)  # ORDERS_CREATE ...
    callback_url = models.CharField(max_length=500)
    format = models.CharField(max_length=8, default="JSON")
    include_fields = models.JSONField(default=list)
    created_at = models.DateTimeField()

    class Meta:
        app_label = "sandbox"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["store", "topic", "callback_url"], name="sbx_shop_webhook_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic} -> {self.callback_url}"


class ShopifyWebhookDelivery(models.Model):
    """One webhook (one id, one body) to one subscription, and its delivery attempts."""

    PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"

    store = models.ForeignKey(ShopifyStore, on_delete=models.CASCADE, related_name="deliveries")
    subscription = models.ForeignKey(
        ShopifyWebhookSubscription, null=True, on_delete=models.SET_NULL
    )
    topic = models.CharField(max_length=32)  # orders/create ...
    callback_url = models.CharField(max_length=500)
    webhook_id = models.CharField(max_length=64, unique=True)
    event_id = models.CharField(max_length=64)
    api_version = models.CharField(max_length=16)
    body = models.BinaryField()
    triggered_at = models.DateTimeField()  # virtual time of the event
    status = models.CharField(max_length=12, default=PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True)  # real time
    last_status = models.IntegerField(null=True)
    last_error = models.TextField(blank=True)
    attempt_log = models.JSONField(default=list)  # [{"at", "status", "error"}]
    delivered_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        app_label = "sandbox"
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="sbx_shop_hook_due")]

    def __str__(self) -> str:
        return f"{self.topic} {self.webhook_id} ({self.status})"
