"""django-q2 entry points of notifications."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from notifications import services
from notifications.models import EmailState, NotificationRecipient
from tenants.models import User
from tenants.scope import system_context, tenant_context
from tenants.selectors import merchant_ids_for_user


def send_digests(user_ids: Iterable[int] | None = None) -> int:
    """E-mail each user (all users with pending e-mail, or the given ones) one digest.

    Every minute as a safety net, after commit for notifications made outside the sweep, and at
    the end of each policy sweep. Each digest runs under the scope of the merchants the user may
    still see; pending e-mail about merchants they no longer see is dropped. Returns how many
    notifications were e-mailed. The safety net (no ``user_ids``) does nothing while a policy
    sweep runs (``services.sweep_digests_held``): the sweep e-mails what it made at its end, and
    the next minute's safety net anything else.
    """
    if user_ids is not None:
        return _send_digests(list(user_ids))
    with services.safety_net_digest_slot() as free:
        return _send_digests(None) if free else 0


def _send_digests(user_ids: list[int] | None) -> int:
    with system_context("notification e-mails: find users with pending e-mail"):
        pending = NotificationRecipient.objects.filter(email_state=EmailState.PENDING)
        if user_ids is not None:
            pending = pending.filter(user_id__in=user_ids)
        pairs = list(pending.values_list("user_id", "merchant_id").distinct())
    merchants_by_user: dict[int, set[int]] = defaultdict(set)
    for user_id, merchant_id in pairs:
        merchants_by_user[user_id].add(merchant_id)
    sent = 0
    for user_id in sorted(merchants_by_user):
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            continue
        pending_merchants = merchants_by_user[user_id]
        visible = merchant_ids_for_user(user) & pending_merchants
        gone = pending_merchants - visible
        if gone:
            with tenant_context(gone):
                services.skip_pending_emails(user)
        if visible:
            with tenant_context(visible):
                sent += services.send_email_digest(user)
    return sent
