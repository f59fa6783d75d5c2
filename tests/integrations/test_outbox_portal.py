"""The portal's outbox page: failed messages show their error and can be retried."""

from __future__ import annotations

import pytest
from django.test import Client

from integrations.outbox.models import OutboxMessage
from tenants.models import Role
from tenants.scope import tenant_context
from tests.integrations.factories import make_outbox_message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_a_failed_message_shows_its_error_and_is_retried(make_merchant, make_user):
    merchant = make_merchant()
    failed = make_outbox_message(merchant)
    client = Client()
    client.force_login(make_user(Role.MERCHANT_ADMIN, merchant=merchant))

    listing = client.get("/integrations/outboxmessage/", {"status__exact": "failed"})
    assert [m.pk for m in listing.context["cl"].result_list] == [failed.pk]
    assert "HTTP 503" in listing.content.decode()

    response = client.post(
        "/integrations/outboxmessage/",
        {"action": "retry_failed", "_selected_action": [failed.pk]},
        follow=True,
    )
    assert "Sending 1 message again" in response.content.decode()
    with tenant_context(merchant):
        assert OutboxMessage.objects.get(pk=failed.pk).status == "pending"


def test_viewers_cannot_retry(make_merchant, make_user):
    merchant = make_merchant()
    failed = make_outbox_message(merchant)
    client = Client()
    client.force_login(make_user(Role.MERCHANT_VIEWER, merchant=merchant))
    client.post(
        "/integrations/outboxmessage/", {"action": "retry_failed", "_selected_action": [failed.pk]}
    )
    with tenant_context(merchant):
        assert OutboxMessage.objects.get(pk=failed.pk).status == "failed"
