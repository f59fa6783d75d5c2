"""Notifications reach the merchant's people (rules R4, B5, A9): each user has their own read
state, and e-mail goes out as one digest per person, after commit, to those who opted in."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import override_settings

from notifications import selectors, services, tasks
from notifications.models import EmailState, NotificationRecipient
from tenants.models import Membership, Role
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

FAILING_BACKEND = "tests.support.mail_backends.FailingEmailBackend"


@pytest.fixture
def shop(make_agency, make_merchant, make_user):
    """A merchant of an agency, with the people who should and should not hear about it."""
    agency = make_agency()
    merchant = make_merchant(agency=agency)
    sibling = make_merchant(agency=agency)
    people = {
        "owner": make_user(role=Role.AGENCY_OWNER, agency=agency, email="owner@agency.example"),
        "admin": make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="admin@m.example"),
        "viewer": make_user(
            role=Role.MERCHANT_VIEWER,
            merchant=merchant,
            email="viewer@m.example",
            email_notifications=False,
        ),
        "sibling": make_user(role=Role.MERCHANT_ADMIN, merchant=sibling, email="s@sib.example"),
        "stranger": make_user(role=Role.AGENCY_OWNER, agency=make_agency()),
        "gone": make_user(
            role=Role.MERCHANT_STAFF, merchant=merchant, email="gone@m.example", is_active=False
        ),
        "no_address": make_user(role=Role.MERCHANT_STAFF, merchant=merchant, email=""),
    }
    return merchant, sibling, people


def test_recipients_are_the_merchants_and_its_agencys_people_R4(shop):
    merchant, _, people = shop
    recipients = {r.user_id: r.wants_email for r in selectors.recipients_for_merchant(merchant)}
    assert recipients == {
        people["owner"].pk: True,
        people["admin"].pk: True,
        people["viewer"].pk: False,  # opted out
        people["no_address"].pk: False,
    }


def test_notify_merchant_gives_each_person_a_copy_and_queues_email_after_commit_B5(
    shop, make_order, django_capture_on_commit_callbacks
):
    merchant, _, people = shop
    order = make_order(merchant, buyer_cancel_requested=True)
    with tenant_context(merchant), django_capture_on_commit_callbacks() as callbacks:
        note = services.notify_merchant(
            merchant,
            "buyer_cancel_requested",
            f"Order {order.external_id}: the buyer asked to cancel",
            "Cancel it as requested by the buyer, or ship it.",
            order=order,
        )
        states = dict(note.recipients.values_list("user_id", "email_state"))
    assert len(callbacks) == 1, "e-mail is queued once the transaction commits"
    assert states == {
        people["owner"].pk: EmailState.PENDING,
        people["admin"].pk: EmailState.PENDING,
        people["viewer"].pk: EmailState.NOT_WANTED,
        people["no_address"].pk: EmailState.NOT_WANTED,
    }
    assert mail.outbox == []


def test_read_state_is_per_person(shop):
    merchant, _, people = shop
    with tenant_context(merchant):
        services.notify_merchant(merchant, "general", "One")
        services.notify_merchant(merchant, "general", "Two")
        admin, viewer = people["admin"], people["viewer"]
        assert selectors.unread_count(admin) == selectors.unread_count(viewer) == 2
        newest = selectors.notifications_for(admin).first()
        assert newest.notification.title == "Two"
        assert services.mark_read(admin, [newest.pk]) == 1
        assert selectors.unread_count(admin) == 1
        assert selectors.unread_count(viewer) == 2
        assert services.mark_read(viewer) == 2
        assert selectors.unread_count(viewer) == 0
        unread = selectors.notifications_for(admin, unread_only=True)
        assert [n.notification.title for n in unread] == ["One"]


def test_unread_count_follows_the_scope(shop):
    merchant, sibling, people = shop
    owner = people["owner"]
    with tenant_context(merchant):
        services.notify_merchant(merchant, "general", "For the merchant")
    with tenant_context(sibling):
        services.notify_merchant(sibling, "general", "For its sibling")
        assert selectors.unread_count(owner) == 1
    with tenant_context([merchant, sibling]):
        assert selectors.unread_count(owner) == 2
    assert selectors.unread_count(owner) == 0, "no scope sees nothing"


def test_digest_is_one_email_per_person_to_their_own_address(shop):
    merchant, _, people = shop
    with tenant_context(merchant):
        for n in range(3):
            services.notify_merchant(merchant, "general", f"Update {n}", f"Body {n}")
        assert services.send_email_digest(people["admin"]) == 3
        assert services.send_email_digest(people["admin"]) == 0
        assert services.send_email_digest(people["viewer"]) == 0
    [message] = mail.outbox
    assert message.to == ["admin@m.example"]
    assert message.recipients() == ["admin@m.example"]
    assert message.subject == "Keelson: 3 updates on your orders"
    for n in range(3):
        assert f"Update {n}" in message.body and f"Body {n}" in message.body
    assert merchant.name in message.body


def test_a_person_who_opts_out_before_the_digest_gets_no_email(shop):
    merchant, _, people = shop
    admin = people["admin"]
    with tenant_context(merchant):
        services.notify_merchant(merchant, "general", "Hello")
        admin.email_notifications = False
        admin.save(update_fields=["email_notifications"])
        assert services.send_email_digest(admin) == 0
        assert NotificationRecipient.objects.get(user=admin).email_state == EmailState.SKIPPED
    assert mail.outbox == []


@override_settings(EMAIL_BACKEND=FAILING_BACKEND)
def test_a_failed_email_is_retried_then_given_up(shop):
    merchant, _, people = shop
    admin = people["admin"]
    with tenant_context(merchant):
        services.notify_merchant(merchant, "general", "Hello")
        for _ in range(services.MAX_EMAIL_ATTEMPTS - 1):
            assert services.send_email_digest(admin) == 0
            row = NotificationRecipient.objects.get(user=admin)
            assert row.email_state == EmailState.PENDING
        assert services.send_email_digest(admin) == 0
        row = NotificationRecipient.objects.get(user=admin)
    assert row.email_state == EmailState.FAILED
    assert row.email_attempts == services.MAX_EMAIL_ATTEMPTS
    assert "SMTP" in row.email_error


@pytest.mark.django_db(transaction=True)
def test_send_digests_drops_email_about_merchants_a_person_no_longer_sees(shop):
    merchant, _, people = shop
    admin = people["admin"]
    with tenant_context(merchant):
        services.notify_merchant(merchant, "general", "Hello")
    Membership.objects.filter(user=admin).delete()
    assert tasks.send_digests() == 1  # the agency owner's; the admin lost access
    assert [m.to for m in mail.outbox] == [["owner@agency.example"]]
    with tenant_context(merchant):
        assert NotificationRecipient.objects.get(user=admin).email_state == EmailState.SKIPPED
    assert tasks.send_digests() == 0
