"""Read queries about notifications. Tenant-owned rows: the current scope (and row-level
security) limits them to the merchants the caller may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from notifications.models import NotificationKind, NotificationPreference, NotificationRecipient
from tenants.models import AGENCY_ROLES, Membership, Merchant, User


@dataclass(frozen=True)
class Recipient:
    user_id: int
    wants_email: bool


def recipients_for_merchant(merchant: Merchant) -> list[Recipient]:
    """The people told about a merchant's orders: active users with a role on the merchant or on
    its agency. Never an order's buyer (rule R4): recipients are users of Keelson only."""
    memberships = Membership.objects.filter(
        Q(merchant_id=merchant.pk) | Q(agency_id=merchant.agency_id, role__in=AGENCY_ROLES),
        user__is_active=True,
    )
    rows = memberships.values_list("user_id", "user__email_notifications", "user__email")
    out: dict[int, Recipient] = {}
    for user_id, opted_in, email in rows:
        out[user_id] = Recipient(user_id, bool(opted_in and email))
    return [out[k] for k in sorted(out)]


@dataclass(frozen=True)
class Choice:
    """A user's choice for one kind (both on unless they changed it)."""

    in_portal: bool = True
    by_email: bool = True

    @property
    def emailed(self) -> bool:
        # The e-mail is a digest of portal notifications: nothing kept out of the portal is sent.
        return self.in_portal and self.by_email


DEFAULT_CHOICE = Choice()


def preferences_for(user_ids: Iterable[int], kinds: Iterable[str]) -> dict[tuple[int, str], Choice]:
    """The choices the users changed for these kinds, by (user id, kind); any other is
    ``DEFAULT_CHOICE``."""
    rows = NotificationPreference.objects.filter(
        user_id__in=list(user_ids), kind__in=list(kinds)
    ).values_list("user_id", "kind", "in_portal", "by_email")
    return {(u, k): Choice(p, e) for u, k, p, e in rows}


def preference_table(user: User) -> list[tuple[str, str, Choice]]:
    """For the settings page: every kind (value, label) with the user's choice."""
    chosen = preferences_for([user.pk], NotificationKind.values)
    return [
        (value, label, chosen.get((user.pk, value), DEFAULT_CHOICE))
        for value, label in NotificationKind.choices
    ]


def notifications_for(
    user: User, *, unread_only: bool = False, merchant_ids: Iterable[int] | None = None
) -> QuerySet[NotificationRecipient]:
    """The user's notifications, newest first (merchants in scope; narrowed to
    ``merchant_ids`` when given), with their notification, merchant and order."""
    qs = NotificationRecipient.objects.filter(user=user).select_related(
        "notification", "notification__merchant", "notification__order"
    )
    if merchant_ids is not None:
        qs = qs.filter(merchant_id__in=list(merchant_ids))
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-id")


def unread_count(user: User, merchant_ids: Iterable[int] | None = None) -> int:
    """For the portal header: unread notifications of the merchants in scope (one count on the
    partial index ``notification_user_unread``)."""
    qs = NotificationRecipient.objects.filter(user=user, read_at__isnull=True)
    if merchant_ids is not None:
        qs = qs.filter(merchant_id__in=list(merchant_ids))
    return qs.count()
