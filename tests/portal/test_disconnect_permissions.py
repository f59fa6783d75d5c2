"""Disconnecting is checked store by store and account by account: a user who administers one
merchant and is only staff of another may disconnect the first one's Shopify store or Amazon
account, never the second one's, even when both are selected at once (a review's finding)."""

from __future__ import annotations

import pytest

from tenants.models import AccountStatus, AmazonAccount, Membership, Role, ShopifyStore
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db

STORES = "/tenants/shopifystore/"
ACCOUNTS = "/tenants/amazonaccount/"


@pytest.fixture
def admin_of_a1_staff_of_a2(tenancy):
    user = tenancy.merchant_admin  # admin of a1
    Membership.objects.create(user=user, merchant=tenancy.a2, role=Role.MERCHANT_STAFF)
    return user


def store_of(merchant, domain: str) -> ShopifyStore:
    with tenant_context(merchant):
        return ShopifyStore.objects.create(
            merchant=merchant,
            shop_domain=domain,
            access_token="shpat_demo",
            webhook_secret="secret",
            status=AccountStatus.ACTIVE,
        )


def account_of(merchant, seller_id: str) -> AmazonAccount:
    with tenant_context(merchant):
        return AmazonAccount.objects.create(
            merchant=merchant,
            name=f"{merchant.name} on Amazon",
            selling_partner_id=seller_id,
            marketplace_ids=["ATVPDKIKX0DER"],
            lwa_refresh_token="Atzr|test",
            status=AccountStatus.ACTIVE,
        )


def status_of(model, merchant, pk) -> str:
    with tenant_context(merchant):
        return model.objects.get(pk=pk).status


def test_a_staff_role_on_another_merchant_does_not_let_its_store_be_disconnected(
    tenancy, login, admin_of_a1_staff_of_a2
):
    mine = store_of(tenancy.a1, "a-one.myshopify.com")
    theirs = store_of(tenancy.a2, "a-two.myshopify.com")
    client = login(admin_of_a1_staff_of_a2)

    response = client.post(
        STORES, {"action": "disconnect", "_selected_action": [mine.pk, theirs.pk]}, follow=True
    )

    page = response.content.decode()
    assert response.status_code == 200
    assert status_of(ShopifyStore, tenancy.a1, mine.pk) == AccountStatus.DISCONNECTED
    assert status_of(ShopifyStore, tenancy.a2, theirs.pk) == AccountStatus.ACTIVE
    assert "a-two.myshopify.com was not disconnected: only an admin of A-two Supplies" in page
    with tenant_context(tenancy.a2):
        assert ShopifyStore.objects.get(pk=theirs.pk).access_token == "shpat_demo"  # kept


def test_only_the_store_of_a_merchant_one_administers_is_disconnected_alone(
    tenancy, login, admin_of_a1_staff_of_a2
):
    theirs = store_of(tenancy.a2, "a-two.myshopify.com")
    client = login(admin_of_a1_staff_of_a2)

    client.post(STORES, {"action": "disconnect", "_selected_action": [theirs.pk]})

    assert status_of(ShopifyStore, tenancy.a2, theirs.pk) == AccountStatus.ACTIVE


def test_the_same_holds_for_amazon_accounts_and_the_refusal_is_said(
    tenancy, login, admin_of_a1_staff_of_a2
):
    mine = account_of(tenancy.a1, "A1SELLER")
    theirs = account_of(tenancy.a2, "A2SELLER")
    client = login(admin_of_a1_staff_of_a2)

    response = client.post(
        ACCOUNTS, {"action": "disconnect", "_selected_action": [mine.pk, theirs.pk]}, follow=True
    )

    assert status_of(AmazonAccount, tenancy.a1, mine.pk) == AccountStatus.DISCONNECTED
    assert status_of(AmazonAccount, tenancy.a2, theirs.pk) == AccountStatus.ACTIVE
    assert "only an admin of A-two Supplies may disconnect" in response.content.decode()
