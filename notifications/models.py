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

from foundation.i18n import localize
from foundation.text import Text
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
    """``title`` and ``body`` hold the English text; ``message`` the templates and parameters
    they were made from (``foundation.text.Text``), so each reader sees them in their own
    language (``display_title``/``display_body``). Rows from before ``message`` show the text."""

    kind = models.CharField(_("kind"), max_length=32, choices=NotificationKind.choices)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("body"), blank=True)
    message = models.JSONField(verbose_name=_("message"), default=dict, blank=True)
    order = TenantForeignKey(
        "orders.Order",
        verbose_name=_("order"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-id"]
        indexes = [models.Index(fields=["merchant", "-id"], name="notification_merchant")]

    def __str__(self) -> str:
        return self.title

    @property
    def display_title(self) -> str:
        """The title in the active language (falls back to the stored English text)."""
        return _rendered(self.message.get("title"), self.title)

    @property
    def display_body(self) -> str:
        return _rendered(self.message.get("body"), self.body)

    @staticmethod
    def message_of(title: str, body: str) -> dict:
        """What ``message`` keeps of a title and body that are ``Text`` (nothing otherwise)."""
        return {
            name: text.to_json()
            for name, text in (("title", title), ("body", body))
            if isinstance(text, Text)
        }


def _rendered(stored: dict | None, fallback: str) -> str:
    if not stored:
        return fallback
    try:
        return localize(Text.from_json(stored))
    except (KeyError, TypeError, ValueError):  # a row written by a newer or older version
        return fallback


class EmailState(models.TextChoices):
    NOT_WANTED = "not_wanted", _("Not wanted")  # the user opted out, or has no address
    PENDING = "pending", _("Pending")
    SENT = "sent", _("Sent")
    SKIPPED = "skipped", _("Skipped")  # opted out or lost access before it was sent
    FAILED = "failed", _("Failed")


class NotificationRecipient(TenantModel):
    """One user's copy of a notification: read state and e-mail state."""

    notification = TenantForeignKey(
        Notification,
        verbose_name=_("notification"),
        on_delete=models.CASCADE,
        related_name="recipients",
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    read_at = models.DateTimeField(verbose_name=_("read at"), null=True, blank=True)
    email_state = models.CharField(
        verbose_name=_("email state"),
        max_length=16,
        choices=EmailState.choices,
        default=EmailState.NOT_WANTED,
    )
    email_attempts = models.PositiveSmallIntegerField(verbose_name=_("email attempts"), default=0)
    email_error = models.TextField(verbose_name=_("email error"), blank=True)
    emailed_at = models.DateTimeField(verbose_name=_("emailed at"), null=True, blank=True)
    created_at = models.DateTimeField(verbose_name=_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("notification recipient")
        verbose_name_plural = _("notification recipients")
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
