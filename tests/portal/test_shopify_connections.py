"""Connecting a Shopify store in the portal (issue 12): the shop is read with the token before
anything is saved, the token is encrypted at rest, the webhooks are subscribed through the
outbox; a wrong token is a clear error on the form; only admins connect or disconnect."""

from __future__ import annotations

import pytest
from django.db import connections

from integrations.outbox.models import OutboxMessage
from integrations.outbox.services import deliver_due
from integrations.shopify.connections import SUBSCRIBE_WEBHOOKS_KIND
from sandbox.shopify.testing import running_shopify_sandbox
from tenants.models import AccountStatus, ShopifyStore
from tenants.scope import tenant_context

ADD = "/tenants/shopifystore/add/"
LIST = "/tenants/shopifystore/"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shopify():
    with running_shopify_sandbox(throttling=False) as sandbox:
        yield sandbox


def connect_form(sandbox, merchant, **overrides) -> dict:
    data = {
        "merchant": merchant.pk,
        "shop_domain": sandbox.store["domain"],
        "access_token": sandbox.store["access_token"],
        "webhook_secret": sandbox.store["client_secret"],
        "endpoint_override": sandbox.base_url,
    }
    data.update(overrides)
    return data


def test_a_merchant_admin_connects_a_store_encrypted_and_its_webhooks_are_subscribed(
    tenancy, login, shopify, settings
):
    settings.KEELSON_PUBLIC_URL = "https://keelson.example.com"
    client = login(tenancy.merchant_admin)
    assert ADD in client.get(LIST).content.decode()  # the add button, for an admin
    assert client.get(ADD).status_code == 200

    response = client.post(ADD, connect_form(shopify, tenancy.a1), follow=True)

    assert response.status_code == 200
    assert f"{shopify.store['domain']} is connected" in response.content.decode()
    with tenant_context(tenancy.a1):
        store = ShopifyStore.objects.get(shop_domain=shopify.store["domain"])
        assert store.status == AccountStatus.ACTIVE
        assert store.access_token == shopify.store["access_token"]
        message = OutboxMessage.objects.get(kind=SUBSCRIBE_WEBHOOKS_KIND)
    with connections["owner"].cursor() as cursor:
        cursor.execute("select access_token from tenants_shopifystore where id = %s", [store.pk])
        (stored,) = cursor.fetchone()
    assert shopify.store["access_token"] not in stored  # encrypted at rest
    callback = f"https://keelson.example.com/webhooks/shopify/{store.pk}/"
    assert message.payload == {"store": store.pk, "callback_url": callback}

    with tenant_context(tenancy.a1):
        deliver_due(message_id=message.pk)
    subscriptions = shopify.control.webhook_subscriptions(shopify.store["domain"])
    assert {s["topic"] for s in subscriptions} >= {
        "ORDERS_CREATE",
        "ORDERS_UPDATED",
        "ORDERS_CANCELLED",
        "FULFILLMENTS_CREATE",
        "REFUNDS_CREATE",
    }
    assert {s["callbackUrl"] for s in subscriptions} == {callback}

    # Sent again (a retry after a lost answer): no second subscription per topic.
    with tenant_context(tenancy.a1):
        OutboxMessage.objects.filter(pk=message.pk).update(status="pending", attempts=0)
    with tenant_context(tenancy.a1):
        deliver_due(message_id=message.pk)
    again = shopify.control.webhook_subscriptions(shopify.store["domain"])
    assert len(again) == len(subscriptions)


def test_a_wrong_token_is_refused_on_the_form_and_nothing_is_saved(tenancy, login, shopify):
    client = login(tenancy.merchant_admin)

    response = client.post(ADD, connect_form(shopify, tenancy.a1, access_token="shpat_wrong"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Shopify refused the access token" in page
    assert not ShopifyStore.unscoped.exists()
    assert not OutboxMessage.unscoped.exists()


def test_a_domain_that_is_no_shop_is_refused_with_a_plain_message(tenancy, login, shopify):
    client = login(tenancy.merchant_admin)

    response = client.post(
        ADD, connect_form(shopify, tenancy.a1, shop_domain="shop.example.com", endpoint_override="")
    )

    assert "is not a Shopify shop domain" in response.content.decode()
    assert not ShopifyStore.unscoped.exists()


def test_staff_and_viewers_cannot_connect_and_a_forged_post_is_refused(tenancy, login, shopify):
    for user in (tenancy.merchant_staff, tenancy.viewer):
        client = login(user)
        assert ADD not in client.get(LIST).content.decode()  # no button
        assert client.get(ADD).status_code == 403
        assert client.post(ADD, connect_form(shopify, tenancy.a1)).status_code == 403
    assert not ShopifyStore.unscoped.exists()


def test_an_admin_cannot_connect_a_store_to_another_tenant(tenancy, login, shopify):
    client = login(tenancy.merchant_admin)

    response = client.post(ADD, connect_form(shopify, tenancy.b1))

    assert response.status_code == 200
    assert "merchant" in response.context["adminform"].form.errors
    assert not ShopifyStore.unscoped.exists()


def test_test_connection_reports_the_shop_and_disconnect_forgets_the_token(tenancy, login, shopify):
    client = login(tenancy.merchant_admin)
    client.post(ADD, connect_form(shopify, tenancy.a1))
    with tenant_context(tenancy.a1):
        store = ShopifyStore.objects.get()

    response = client.post(
        LIST, {"action": "test_connection", "_selected_action": [store.pk]}, follow=True
    )
    assert "Connected to Keelson Test Store" in response.content.decode()

    # Staff may test, not disconnect.
    staff = login(tenancy.merchant_staff)
    staff.post(LIST, {"action": "disconnect", "_selected_action": [store.pk]})
    with tenant_context(tenancy.a1):
        assert ShopifyStore.objects.get().status == AccountStatus.ACTIVE

    response = client.post(
        LIST, {"action": "disconnect", "_selected_action": [store.pk]}, follow=True
    )
    assert "is disconnected" in response.content.decode()
    with tenant_context(tenancy.a1):
        store = ShopifyStore.objects.get()
    assert store.status == AccountStatus.DISCONNECTED
    assert store.access_token == ""

    # Connecting again asks for the token and works.
    response = client.post(ADD, connect_form(shopify, tenancy.a1), follow=True)
    assert "is connected" in response.content.decode()
    with tenant_context(tenancy.a1):
        assert ShopifyStore.objects.get().status == AccountStatus.ACTIVE
