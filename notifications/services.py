"""Notifying the merchant (rules R4, A9, B5) and e-mailing digests of what is new.

Notifications go to the merchant's people only, never to an order's buyer (R4). E-mail leaves in
digests, after the notifications are committed: one message per user with everything pending
for them, so a sweep that flags many orders sends each person one e-mail.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import DatabaseError, connections, transaction
from django.db.models import F
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from notifications.models import (
    EmailState,
    Notification,
    NotificationKind,
    NotificationPreference,
    NotificationRecipient,
)
from notifications.selectors import DEFAULT_CHOICE, preferences_for, recipients_for_merchant
from tenants.db import session_alias, session_try_lock
from tenants.models import Merchant, User

logger = logging.getLogger(__name__)

MAX_EMAIL_ATTEMPTS = 5
DIGEST_MAX_ITEMS = 50
# A PostgreSQL advisory lock (per database) between the policy sweep, which commits its
# notifications step by step and e-mails them at the end, and the every-minute safety-net digest,
# which would otherwise send what the sweep's first steps committed while the sweep goes on
# (two e-mails where the sweep promises one per person).
DIGEST_LOCK_KEY = 0x6B65656C736F6E01  # "keelson" + 1, a 64-bit key


@contextmanager
def sweep_digests_held() -> Iterator[None]:
    """While a sweep runs: no safety-net digest (``safety_net_digest_slot``) starts. Shared,
    so that sweeps on several workers run side by side; waits for a safety net already
    running (it only sends what was pending before). Held by the session: a worker that dies
    lets go with its connection."""
    connection = connections[session_alias()]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock_shared(%s)", [DIGEST_LOCK_KEY])
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock_shared(%s)", [DIGEST_LOCK_KEY])
        except DatabaseError:
            # An aborted transaction (the sweep's error propagates, and must not be hidden):
            # the lock goes with the session when the connection is closed.
            logger.warning("could not release the sweep's digest lock", exc_info=True)


@contextmanager
def safety_net_digest_slot() -> Iterator[bool]:
    """For the safety-net digest: True when no sweep runs (and none starts until the block
    ends); False while one does, and the sweep e-mails what it made itself."""
    with session_try_lock(DIGEST_LOCK_KEY) as got:
        yield got


@dataclass(frozen=True)
class NewNotification:
    kind: str
    title: str
    body: str = ""
    order_id: int | None = None


@dataclass
class Notified:
    notifications: list[Notification] = field(default_factory=list)
    email_user_ids: set[int] = field(default_factory=set)


def notify_merchant(
    merchant: Merchant, kind: str, title: str, body: str = "", order=None
) -> Notification:
    """Tell the merchant's people about something; e-mail those who opted in, after commit."""
    notified = notify_merchant_many(
        merchant, [NewNotification(kind, title, body, getattr(order, "pk", order))]
    )
    return notified.notifications[0]


def notify_merchant_many(
    merchant: Merchant, items: Sequence[NewNotification], *, email_after_commit: bool = True
) -> Notified:
    """Create notifications and their recipients in the caller's transaction (or one of ours).

    With ``email_after_commit`` a digest task is queued for each user to e-mail once the
    transaction commits; the policy sweep passes False and sends the digests itself after all its
    transactions (``notifications.tasks.send_digests``), so many due orders make one e-mail.
    """
    notified = Notified()
    if not items:
        return notified
    recipients = recipients_for_merchant(merchant)
    choices = preferences_for([r.user_id for r in recipients], {item.kind for item in items})
    with transaction.atomic():
        notified.notifications = Notification.objects.bulk_create(
            [
                Notification(
                    merchant_id=merchant.pk,
                    kind=item.kind,
                    title=item.title[:200],
                    body=item.body,
                    message=Notification.message_of(item.title, item.body),
                    order_id=item.order_id,
                )
                for item in items
            ]
        )
        rows = []
        for notification in notified.notifications:
            for recipient in recipients:
                choice = choices.get((recipient.user_id, notification.kind), DEFAULT_CHOICE)
                if not choice.in_portal:
                    continue  # the user turned this kind off: no copy at all
                emailed = recipient.wants_email and choice.emailed
                rows.append(
                    NotificationRecipient(
                        merchant_id=merchant.pk,
                        notification=notification,
                        user_id=recipient.user_id,
                        email_state=EmailState.PENDING if emailed else EmailState.NOT_WANTED,
                    )
                )
                if emailed:
                    notified.email_user_ids.add(recipient.user_id)
        NotificationRecipient.objects.bulk_create(rows, batch_size=1000)
        if email_after_commit and notified.email_user_ids:
            user_ids = sorted(notified.email_user_ids)
            transaction.on_commit(lambda: queue_digests(user_ids))
    return notified


def set_preferences(user: User, choices: Mapping[str, tuple[bool, bool]]) -> int:
    """Save the user's choices, by kind: (in the portal, by e-mail). A kind back at the
    default (both on) keeps no row. Unknown kinds are refused. Returns how many kinds differ
    from the default now. Notifications already made keep their copies; pending e-mails of a
    kind no longer wanted are not sent (``send_email_digest`` checks again)."""
    unknown = sorted(set(choices) - set(NotificationKind.values))
    if unknown:
        raise ValueError(f"unknown notification kinds: {', '.join(unknown)}")
    with transaction.atomic():
        for kind, (in_portal, by_email) in choices.items():
            if in_portal and by_email:
                NotificationPreference.objects.filter(user=user, kind=kind).delete()
            else:
                NotificationPreference.objects.update_or_create(
                    user=user,
                    kind=kind,
                    defaults={"in_portal": bool(in_portal), "by_email": bool(by_email)},
                )
        return NotificationPreference.objects.filter(user=user).count()


def queue_digests(user_ids: Iterable[int]) -> None:
    """Ask a worker to e-mail these users now; the every-minute run catches any missed."""
    from django_q.tasks import async_task

    try:
        async_task("notifications.tasks.send_digests", list(user_ids))
    except Exception:  # the broker being down must not fail the committed use case
        logger.exception("could not queue notification e-mails")


def mark_read(
    user: User,
    recipient_ids: Iterable[int] | None = None,
    *,
    merchant_ids: Iterable[int] | None = None,
) -> int:
    """Mark the user's notifications read (all of them in scope, or the given ones; narrowed to
    ``merchant_ids`` when given). Only the user's own copies: another user's ids change
    nothing. Returns how many were unread."""
    qs = NotificationRecipient.objects.filter(user=user, read_at__isnull=True)
    if merchant_ids is not None:
        qs = qs.filter(merchant_id__in=list(merchant_ids))
    if recipient_ids is not None:
        qs = qs.filter(pk__in=list(recipient_ids))
    return qs.update(read_at=timezone.now())


def skip_pending_emails(user: User) -> int:
    """Drop the pending e-mails of the merchants in scope (the user lost access)."""
    return NotificationRecipient.objects.filter(user=user, email_state=EmailState.PENDING).update(
        email_state=EmailState.SKIPPED
    )


def send_email_digest(user: User) -> int:
    """E-mail the user one digest of everything pending for them (merchants in scope).

    Locks the pending rows (``SKIP LOCKED``: a concurrent digest for the same user takes none of
    them), sends, and marks them sent in the same transaction; a failed send is retried by the
    next run, up to ``MAX_EMAIL_ATTEMPTS``. Returns how many notifications the e-mail carried.
    The only address ever used is the Keelson user's own (rule R4).
    """
    with transaction.atomic():
        rows = list(
            NotificationRecipient.objects.filter(user=user, email_state=EmailState.PENDING)
            .select_related("notification")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")
        )
        if not rows:
            return 0
        ids = [r.pk for r in rows]
        now = timezone.now()
        if not (user.is_active and user.email_notifications and user.email):
            NotificationRecipient.objects.filter(pk__in=ids).update(email_state=EmailState.SKIPPED)
            return 0
        # Kinds the user stopped wanting by e-mail since these were made are not sent.
        choices = preferences_for([user.pk], {r.notification.kind for r in rows})
        unwanted = [
            r.pk
            for r in rows
            if not choices.get((user.pk, r.notification.kind), DEFAULT_CHOICE).emailed
        ]
        if unwanted:
            NotificationRecipient.objects.filter(pk__in=unwanted).update(
                email_state=EmailState.SKIPPED
            )
            rows = [r for r in rows if r.pk not in set(unwanted)]
            ids = [r.pk for r in rows]
            if not rows:
                return 0
        # The e-mail in the user's own language (their setting; else the site's default).
        with translation.override(user.language or settings.LANGUAGE_CODE):
            message = _digest(user, rows)
        try:
            message.send()
        except Exception as exc:
            logger.exception("notification e-mail to user %s failed", user.pk)
            failed = NotificationRecipient.objects.filter(pk__in=ids)
            failed.update(
                email_attempts=F("email_attempts") + 1,
                email_error=f"{type(exc).__name__}: {exc}"[:1000],
            )
            failed.filter(email_attempts__gte=MAX_EMAIL_ATTEMPTS).update(
                email_state=EmailState.FAILED
            )
            return 0
        NotificationRecipient.objects.filter(pk__in=ids).update(
            email_state=EmailState.SENT, emailed_at=now, email_error=""
        )
        return len(rows)


def _digest(user: User, rows: list[NotificationRecipient]) -> EmailMessage:
    notifications = [r.notification for r in rows]
    merchants = dict(
        Merchant.objects.filter(id__in={n.merchant_id for n in notifications}).values_list(
            "id", "name"
        )
    )
    if len(notifications) == 1:
        subject = _("Keelson: %(title)s") % {"title": notifications[0].display_title}
    else:
        subject = _("Keelson: %(count)s updates on your orders") % {"count": len(notifications)}
    lines = [_("Hello %(value)s,") % {"value": user.get_full_name() or user.get_username()}, ""]
    for n in notifications[:DIGEST_MAX_ITEMS]:
        lines.append(f"* {merchants.get(n.merchant_id, '')}: {n.display_title}")
        if n.body:
            lines.append(f"  {n.display_body}")
        lines.append("")
    if len(notifications) > DIGEST_MAX_ITEMS:
        more = len(notifications) - DIGEST_MAX_ITEMS
        lines.append(
            ngettext(
                "... and %(count)s more in the portal.",
                "... and %(count)s more in the portal.",
                more,
            )
            % {"count": more}
        )
        lines.append("")
    lines.append(
        _(
            "You receive this because you asked for e-mail about orders that need attention; "
            "choose what is e-mailed, kind by kind, under Notifications > Settings in the Keelson "
            "portal, and its language in your settings there."
        )
    )
    return EmailMessage(
        subject=subject[:200],
        body="\n".join(lines),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
