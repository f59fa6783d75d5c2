"""Fixtures and checks shared by the orders and notifications tests (policy timelines)."""

from __future__ import annotations

import itertools

import pytest
from django.core import mail

from tenants.scope import tenant_context

_counter = itertools.count(1)
US = "ATVPDKIKX0DER"
UK = "A1F83G8C2ARO7P"


def buyer_addresses() -> set[str]:
    """Every buyer address on any order in the database, read under the scope of every merchant
    (through the application connection, so uncommitted test data is seen too)."""
    from orders.models import Order
    from tenants.models import Merchant

    ids = list(Merchant.objects.values_list("id", flat=True))
    if not ids:
        return set()
    with tenant_context(ids):
        emails = Order.objects.exclude(buyer_email="").values_list("buyer_email", flat=True)
        return {e.strip().lower() for e in emails}


def mailed_addresses() -> set[str]:
    """Everyone Django's locmem outbox holds a message for (to, cc, bcc)."""
    return {a.strip().lower() for m in getattr(mail, "outbox", []) for a in m.recipients()}


def assert_no_mail_to_buyers() -> None:
    """Rule R4: our product never writes to an Amazon buyer."""
    sent = mailed_addresses()
    if not sent:
        return
    leaked = sent & buyer_addresses()
    assert not leaked, f"e-mail sent to a buyer (rule R4): {sorted(leaked)}"


def r4_guard(item) -> None:
    """After a database test's body (before its data is rolled back or flushed): R4 holds."""
    if item.get_closest_marker("django_db") is None:
        return
    assert_no_mail_to_buyers()


@pytest.fixture
def make_user(make_user):
    """The root fixture's users, without a password (no slow hashing: nobody logs in here)."""

    def make(**fields):
        fields.setdefault("password", None)
        return make_user(**fields)

    return make
