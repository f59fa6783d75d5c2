"""Fulfillment services, the fulfillment orders we send them, and the shipments (rules F1-F12).

- ``FulfillmentService``: a partner that picks, packs and ships; owned by a merchant, or by an
  agency that shares it between its merchants. It has one workflow (``legacy`` or
  ``fulfillment_order``), a callback URL, a signing secret and its own API key.
- ``FulfillmentLocation``: which merchants a service serves and which of their lines it gets
  (the SKUs explicitly assigned to it, or every other line when it is the merchant's default).
  Both are tenancy tables, like ``ApiKey`` and ``Membership``: the API authentication reads them
  before any tenant scope exists (a service key's scope is the merchants it serves), so they are
  scoped in code, not by row-level security.
- ``FulfillmentOrder`` and its lines: the part of one order one service is asked to fulfil, with
  ``status`` and ``request_status`` (transitions: ``fulfillment/workflow.py``, applied only by
  ``fulfillment/services.py``).
- ``Fulfillment`` and its lines: one shipment (package) with tracking, ship date and its
  confirmation to Amazon (rules R3, A7).

The last four are tenant-owned (``merchant_id`` on every row, row-level security).
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fulfillment import workflow
from tenants.crypto import EncryptedTextField
from tenants.models import Agency, ApiKey, Merchant, TenantForeignKey, TenantModel


class Workflow(models.TextChoices):
    LEGACY = workflow.Workflow.LEGACY, _("Legacy (no accept/reject, no cancellation)")
    FULFILLMENT_ORDER = workflow.Workflow.FULFILLMENT_ORDER, _("Fulfillment orders")


class FulfillmentOrderStatus(models.TextChoices):
    OPEN = workflow.Status.OPEN, _("Open")
    IN_PROGRESS = workflow.Status.IN_PROGRESS, _("In progress")
    INCOMPLETE = workflow.Status.INCOMPLETE, _("Incomplete")
    CLOSED = workflow.Status.CLOSED, _("Closed")
    CANCELLED = workflow.Status.CANCELLED, _("Cancelled")
    ON_HOLD = workflow.Status.ON_HOLD, _("On hold")


class RequestStatus(models.TextChoices):
    UNSUBMITTED = workflow.RequestStatus.UNSUBMITTED, _("Not requested")
    SUBMITTED = workflow.RequestStatus.SUBMITTED, _("Requested")
    ACCEPTED = workflow.RequestStatus.ACCEPTED, _("Accepted")
    REJECTED = workflow.RequestStatus.REJECTED, _("Rejected")
    CANCELLATION_REQUESTED = (
        workflow.RequestStatus.CANCELLATION_REQUESTED,
        _("Cancellation requested"),
    )
    CANCELLATION_ACCEPTED = workflow.RequestStatus.CANCELLATION_ACCEPTED, _("Cancellation accepted")
    CANCELLATION_REJECTED = workflow.RequestStatus.CANCELLATION_REJECTED, _("Cancellation rejected")
    CLOSED = workflow.RequestStatus.CLOSED, _("Closed")


class ConnectionStatus(models.TextChoices):
    """Whether the service's callback URL takes Keelson's signed callbacks: from the portal's
    "Test connection" and from the outcome of real callbacks."""

    NOT_TESTED = "not_tested", _("Not tested")
    CONNECTED = "connected", _("Connected")
    FAILING = "failing", _("Failing")
    DISCONNECTED = "disconnected", _("Disconnected")


class FulfillmentService(models.Model):
    """A third-party warehouse. Owned by one merchant, or by an agency (shared by the merchants
    it has a location for). Its API key (owner type ``fulfillment_service``) sees only the
    merchants it serves, and only its own fulfillment orders there."""

    name = models.CharField(verbose_name=_("name"), max_length=200)
    agency = models.ForeignKey(
        Agency,
        verbose_name=_("agency"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="fulfillment_services",
    )
    merchant = models.ForeignKey(
        Merchant,
        verbose_name=_("merchant"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="own_fulfillment_services",
    )
    workflow = models.CharField(
        verbose_name=_("workflow"),
        max_length=24,
        choices=Workflow.choices,
        default=Workflow.FULFILLMENT_ORDER,
    )
    callback_url = models.URLField(
        verbose_name=_("callback url"),
        blank=True,
        max_length=500,
        help_text=_(
            "Where requests and cancellation requests are POSTed (signed). Empty: the "
            "service polls the API."
        ),
    )
    signing_secret = EncryptedTextField(
        verbose_name=_("signing secret"),
        help_text=_("HMAC-SHA256 key of X-Keelson-Signature. Encrypted at rest."),
    )
    api_key = models.OneToOneField(
        ApiKey,
        verbose_name=_("api key"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fulfillment_service",
    )
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)
    connection_status = models.CharField(
        verbose_name=_("connection status"),
        max_length=16,
        choices=ConnectionStatus.choices,
        default=ConnectionStatus.NOT_TESTED,
    )
    connection_error = models.TextField(
        verbose_name=_("connection error"),
        blank=True,
        help_text=_("Why the last test or callback failed, in plain words."),
    )
    connection_checked_at = models.DateTimeField(
        verbose_name=_("connection checked at"),
        null=True,
        blank=True,
        help_text=_("When the connection was last tested or used."),
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("fulfillment service")
        verbose_name_plural = _("fulfillment services")
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(
                name="fulfillment_service_one_owner",
                condition=Q(agency__isnull=False, merchant__isnull=True)
                | Q(agency__isnull=True, merchant__isnull=False),
                violation_error_message="A fulfillment service belongs to one agency or merchant.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class FulfillmentLocation(models.Model):
    """A service serving one merchant: it gets the merchant's lines whose SKU it is assigned
    (``skus``), and, when it is the merchant's default, every line no other location claims."""

    service = models.ForeignKey(
        FulfillmentService,
        verbose_name=_("service"),
        on_delete=models.CASCADE,
        related_name="locations",
    )
    merchant = models.ForeignKey(
        Merchant,
        verbose_name=_("merchant"),
        on_delete=models.CASCADE,
        related_name="fulfillment_locations",
    )
    name = models.CharField(verbose_name=_("name"), max_length=200, blank=True)
    is_default = models.BooleanField(
        verbose_name=_("is default"),
        default=False,
        help_text=_("Gets every line whose SKU no location is assigned."),
    )
    skus = ArrayField(
        models.CharField(max_length=200),
        verbose_name=_("skus"),
        default=list,
        blank=True,
        help_text=_("SKUs it gets."),
    )
    is_active = models.BooleanField(verbose_name=_("is active"), default=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("fulfillment location")
        verbose_name_plural = _("fulfillment locations")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "service"], name="fulfillment_location_unique_service"
            ),
            models.UniqueConstraint(
                fields=["merchant"],
                condition=Q(is_default=True, is_active=True),
                name="fulfillment_location_one_default",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.service} for {self.merchant}"


class FulfillmentOrder(TenantModel):
    """The lines of one order that one service is asked to fulfil, and where that request is."""

    order = TenantForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="fulfillment_orders",
    )
    service = models.ForeignKey(
        FulfillmentService,
        verbose_name=_("service"),
        on_delete=models.PROTECT,
        related_name="fulfillment_orders",
    )
    # Copied from the service when made: a later change of workflow leaves it as it was.
    workflow = models.CharField(verbose_name=_("workflow"), max_length=24, choices=Workflow.choices)
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=FulfillmentOrderStatus.choices,
        default=FulfillmentOrderStatus.OPEN,
    )
    request_status = models.CharField(
        verbose_name=_("request status"),
        max_length=24,
        choices=RequestStatus.choices,
        default=RequestStatus.UNSUBMITTED,
    )
    request_note = models.TextField(
        verbose_name=_("request note"),
        blank=True,
        help_text=_("The merchant's note with the request."),
    )
    response_message = models.TextField(
        verbose_name=_("response message"),
        blank=True,
        help_text=_("The service's message when it accepted or rejected."),
    )
    cancellation_note = models.TextField(
        verbose_name=_("cancellation note"),
        blank=True,
        help_text=_("The merchant's note with a cancellation request (F9)."),
    )
    cancellation_response = models.TextField(
        verbose_name=_("cancellation response"),
        blank=True,
        help_text=_("The service's answer to a cancellation request."),
    )
    auto_requested = models.BooleanField(
        verbose_name=_("auto requested"), default=False, help_text=_("Requested by rule F2.")
    )
    submitted_at = models.DateTimeField(verbose_name=_("submitted at"), null=True, blank=True)
    accepted_at = models.DateTimeField(verbose_name=_("accepted at"), null=True, blank=True)
    closed_at = models.DateTimeField(verbose_name=_("closed at"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("fulfillment order")
        verbose_name_plural = _("fulfillment orders")
        indexes = [
            models.Index(fields=["merchant", "-id"], name="fo_merchant_id_desc"),
            models.Index(
                fields=["merchant", "service", "request_status", "-id"], name="fo_service_request"
            ),
            models.Index(fields=["merchant", "order"], name="fo_merchant_order"),
        ]

    def __str__(self) -> str:
        return _("Fulfillment order #%(id)s") % {"id": self.pk}

    @property
    def state(self) -> workflow.State:
        return workflow.State(
            workflow.Status(self.status), workflow.RequestStatus(self.request_status)
        )

    @property
    def is_active_request(self) -> bool:
        return self.state in workflow.ACTIVE_REQUEST_STATES

    @property
    def is_terminal(self) -> bool:
        return self.state in workflow.TERMINAL_STATES


class FulfillmentOrderLine(TenantModel):
    fulfillment_order = TenantForeignKey(
        FulfillmentOrder,
        verbose_name=_("fulfillment order"),
        on_delete=models.CASCADE,
        related_name="lines",
    )
    order_line = TenantForeignKey(
        "orders.OrderLine",
        verbose_name=_("order line"),
        on_delete=models.CASCADE,
        related_name="fulfillment_order_lines",
    )
    quantity = models.PositiveIntegerField(
        verbose_name=_("quantity"), validators=[MinValueValidator(1)]
    )
    # What is still to ship: quantity minus what was shipped and what was reverted (F10).
    remaining_quantity = models.PositiveIntegerField(verbose_name=_("remaining quantity"))

    class Meta:
        verbose_name = _("fulfillment order line")
        verbose_name_plural = _("fulfillment order lines")
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "fulfillment_order", "order_line"],
                name="fo_line_unique_order_line",
            ),
            models.CheckConstraint(
                name="fo_line_remaining_within_quantity",
                condition=Q(remaining_quantity__lte=models.F("quantity")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.order_line_id} × {self.remaining_quantity}/{self.quantity}"


class ShipmentStatus(models.TextChoices):
    SHIPPED = "shipped", _("Shipped")


class AmazonConfirmation(models.TextChoices):
    """Where the shipment confirmation to Amazon is (R3): per fulfillment (one package)."""

    NOT_REQUIRED = "not_required", _("Not an Amazon order")
    PENDING = "pending", _("Queued")
    CONFIRMED = "confirmed", _("Confirmed on Amazon")
    FAILED = "failed", _("Failed")


class Fulfillment(TenantModel):
    """One shipment (package) of an order: its lines and quantities, tracking and ship date."""

    order = TenantForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        on_delete=models.CASCADE,
        related_name="fulfillments",
    )
    fulfillment_order = TenantForeignKey(
        FulfillmentOrder,
        verbose_name=_("fulfillment order"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fulfillments",
    )
    service = models.ForeignKey(
        FulfillmentService,
        verbose_name=_("service"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fulfillments",
    )
    status = models.CharField(
        verbose_name=_("status"),
        max_length=16,
        choices=ShipmentStatus.choices,
        default=ShipmentStatus.SHIPPED,
    )
    tracking_number = models.CharField(
        verbose_name=_("tracking number"), max_length=100, blank=True
    )
    carrier = models.CharField(verbose_name=_("carrier"), max_length=100, blank=True)
    ship_date = models.DateTimeField(verbose_name=_("ship date"))
    # Rule R4: asked for, and whether it was sent (never for an Amazon order).
    notify_customer = models.BooleanField(verbose_name=_("notify customer"), default=False)
    customer_notified = models.BooleanField(verbose_name=_("customer notified"), default=False)
    amazon_confirmation = models.CharField(
        verbose_name=_("amazon confirmation"),
        max_length=16,
        choices=AmazonConfirmation.choices,
        default=AmazonConfirmation.NOT_REQUIRED,
    )
    amazon_confirmed_at = models.DateTimeField(
        verbose_name=_("amazon confirmed at"), null=True, blank=True
    )
    amazon_error = models.TextField(verbose_name=_("amazon error"), blank=True)
    # Its twin in the merchant's Shopify store (gid://shopify/Fulfillment/...): written in the
    # transaction of the mirror's ack, or the one it was taken in from (then never written back).
    shopify_fulfillment_id = models.CharField(
        verbose_name=_("shopify fulfillment id"), max_length=100, blank=True
    )
    created_by = models.CharField(verbose_name=_("created by"), max_length=200, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("fulfillment")
        verbose_name_plural = _("fulfillments")
        indexes = [
            models.Index(fields=["merchant", "order"], name="fulfillment_merchant_order"),
            models.Index(
                fields=["merchant", "amazon_confirmation"], name="fulfillment_amazon_state"
            ),
        ]

    def __str__(self) -> str:
        return _("Fulfillment #%(id)s") % {"id": self.pk}

    @property
    def package_reference(self) -> str:
        """Amazon's packageReferenceId: stable per fulfillment, so a resent confirmation is the
        same package (the emulator, like Amazon, takes it once)."""
        return f"KLS-{self.pk}"


class FulfillmentLine(TenantModel):
    fulfillment = TenantForeignKey(
        Fulfillment, verbose_name=_("fulfillment"), on_delete=models.CASCADE, related_name="lines"
    )
    order_line = TenantForeignKey(
        "orders.OrderLine",
        verbose_name=_("order line"),
        on_delete=models.CASCADE,
        related_name="fulfillment_lines",
    )
    fulfillment_order_line = TenantForeignKey(
        FulfillmentOrderLine,
        verbose_name=_("fulfillment order line"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="fulfillment_lines",
    )
    quantity = models.PositiveIntegerField(
        verbose_name=_("quantity"), validators=[MinValueValidator(1)]
    )

    class Meta:
        verbose_name = _("fulfillment line")
        verbose_name_plural = _("fulfillment lines")
        constraints = [
            models.CheckConstraint(name="fulfillment_line_positive", condition=Q(quantity__gte=1))
        ]

    def __str__(self) -> str:
        return f"{self.order_line_id} × {self.quantity}"
