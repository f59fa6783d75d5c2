"""Notifications to the merchant's people (rules R4, A9, B5): never to buyers.

A ``Notification`` holds the content once; a ``NotificationRecipient`` row per user who should
see it holds that user's state: read or not, and the e-mail (pending, sent, ...). Recipients are
fixed when the notification is created (the merchant's and its agency's members then), so the
unread count is one indexed count per user and the pending e-mails are a work list of their own.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantForeignKey, TenantModel


class NotificationKind(models.TextChoices):
    DEADLINE_WARNING = "deadline_warning", _("Confirm shipment soon")
    SHIP_BY_PASSED = "ship_by_passed", _("Ship-by date passed")
    AUTO_CANCEL_EXPECTED = "auto_cancel_expected", _("Amazon cancels unconfirmed orders")
    PENDING_TOO_LONG = "pending_too_long", _("Pending for over 21 days")
    BUYER_CANCEL_REQUESTED = "buyer_cancel_requested", _("Buyer asked to cancel")
    # What a fulfillment service did with the merchant's request (rule F1; fulfillment app).
    FULFILLMENT_ACCEPTED = "fulfillment_accepted", _("Fulfillment request accepted")
    FULFILLMENT_REJECTED = "fulfillment_rejected", _("Fulfillment request rejected")
    FULFILLMENT_SHIPPED = "fulfillment_shipped", _("Shipped by the fulfillment service")
    FULFILLMENT_CANCEL_ACCEPTED = "fulfillment_cancel_accepted", _("Fulfillment cancelled")
    FULFILLMENT_CANCEL_REJECTED = (
        "fulfillment_cancel_rejected",
        _("Fulfillment cancellation refused"),
    )
    CANCELLED_DURING_FULFILLMENT = (
        "cancelled_during_fulfillment",
        _("Amazon cancelled an order being fulfilled"),
    )
    GENERAL = "general", _("General")


class Notification(TenantModel):
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    order = TenantForeignKey(
        "orders.Order",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "-id"], name="notification_merchant")]

    def __str__(self) -> str:
        return self.title


class EmailState(models.TextChoices):
    NOT_WANTED = "not_wanted", "Not wanted"  # the user opted out, or has no address
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    SKIPPED = "skipped", "Skipped"  # opted out or lost access before it was sent
    FAILED = "failed", "Failed"


class NotificationRecipient(TenantModel):
    """One user's copy of a notification: read state and e-mail state."""

    notification = TenantForeignKey(
        Notification, on_delete=models.CASCADE, related_name="recipients"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(
        max_length=16, choices=EmailState.choices, default=EmailState.NOT_WANTED
    )
    email_attempts = models.PositiveSmallIntegerField(default=0)
    email_error = models.TextField(blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "notification", "user"], name="notification_recipient_unique"
            )
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="notification_user_list"),
            models.Index(
                fields=["user", "merchant"],
                name="notification_user_unread",
                condition=Q(read_at__isnull=True),
            ),
            models.Index(
                fields=["user", "merchant"],
                name="notification_email_pending",
                condition=Q(email_state="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.notification}"


class NotificationPreference(models.Model):
    """A user's choice for one kind of notification: in the portal, and by e-mail. No row means
    both on (the default). E-mail is a digest of portal notifications, so a kind turned off in
    the portal is not e-mailed either. ``User.email_notifications`` stays the switch for all
    e-mail. A user's own setting, not a tenant's: it holds for every merchant they see."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    in_portal = models.BooleanField(default=True)
    by_email = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.kind}"
