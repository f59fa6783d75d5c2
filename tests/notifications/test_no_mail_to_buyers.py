"""Rule R4: buyers hear from Amazon only. Every flow that sends e-mail (the policy sweep with all
its steps, merchant notifications such as a buyer's cancellation request, the digest runs) is run
here on orders that carry buyer addresses, and every message Django sent is checked.

The same check runs after every database test in tests/orders and tests/notifications (their
conftest), so a flow added later is covered too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from notifications import services as notifications
from notifications import tasks as notification_tasks
from orders import tasks
from tenants.models import Role
from tenants.scope import tenant_context
from tests.support.policy import buyer_addresses, mailed_addresses

pytestmark = pytest.mark.django_db(transaction=True)

DAY = timedelta(days=1)


def test_no_flow_emails_a_buyer_R4(make_agency, make_merchant, make_user, make_order):
    agency = make_agency()
    merchant = make_merchant(agency=agency)
    make_user(role=Role.AGENCY_ADMIN, agency=agency, email="agency@keelson-user.example")
    make_user(role=Role.MERCHANT_ADMIN, merchant=merchant, email="seller@keelson-user.example")
    now = timezone.now()
    # One order per sweep step, and one whose buyer asked to cancel (B5).
    make_order(merchant, purchase_date=now - 25 * DAY, latest_ship_date=now + DAY, now=now)
    make_order(merchant, purchase_date=now - 3 * DAY, latest_ship_date=now - DAY, now=now)
    make_order(merchant, purchase_date=now - 31 * DAY, latest_ship_date=now - 28 * DAY, now=now)
    make_order(merchant, status="Pending", purchase_date=now - 22 * DAY, now=now)
    asked = make_order(merchant, buyer_cancel_requested=True, buyer_cancel_reason="changed mind")

    result = tasks.sweep_deadlines()
    assert result["deadline_warning"] == 2
    assert result["ship_by_passed"] == 2
    assert result["auto_cancel_expected"] == 1
    assert result["pending_too_long"] == 1
    with tenant_context(merchant):
        notifications.notify_merchant(
            merchant,
            "buyer_cancel_requested",
            f"Order {asked.external_id}: the buyer asked to cancel",
            asked.buyer_cancel_reason,
            order=asked,
        )
    notification_tasks.send_digests()

    buyers = buyer_addresses()
    sent = mailed_addresses()
    assert len(buyers) == 5
    assert sent == {"agency@keelson-user.example", "seller@keelson-user.example"}
    assert len(mail.outbox) == 4  # each person: the sweep's digest, then the B5 one
    assert not sent & buyers
    for message in mail.outbox:
        assert not {a.lower() for a in message.reply_to} & buyers
        for buyer in buyers:
            assert buyer not in message.body.lower()
