"""The dashboard's Shopify mirror health (issue 12): per connected store in scope, the last write
Shopify accepted, what waits and since when, what failed and why, and the store paused when
Shopify refused its token. Both emulators over real HTTP, the outbox's real delivery."""

from __future__ import annotations

import pytest
from django.test import Client

from tenants.models import Role
from tests.support.shopify_mirror import running_mirror

pytestmark = pytest.mark.django_db(transaction=True)


def mirror_rows(client: Client) -> list[dict]:
    return client.get("/").context["shopify_mirror"]


def test_the_dashboard_shows_each_stores_last_write_backlog_and_errors(make_merchant, make_user):
    with running_mirror(make_merchant) as mirror:
        client = Client()
        client.force_login(make_user(role=Role.MERCHANT_ADMIN, merchant=mirror.merchant))
        mirror.place()
        mirror.deliver()

        (row,) = mirror_rows(client)
        assert (row["shop_domain"], row["label"]) == (mirror.domain, "Mirroring")
        assert (row["backlog"], row["failed"], row["error"]) == (0, 0, "")
        assert row["last_success_at"] is not None
        last_success = row["last_success_at"]

        # Shopify is down for a moment: the next order waits, retried with back-off.
        mirror.shopify.control.inject_fault("error_503", count=1)
        mirror.place()
        mirror.deliver_once()
        (row,) = mirror_rows(client)
        assert (row["label"], row["backlog"], row["failed"]) == ("Retrying", 1, 0)
        assert row["error"] and row["oldest_waiting_at"] is not None
        assert row["last_success_at"] == last_success

        # Shopify refuses the token: the store is paused and the write listed as failed.
        mirror.shopify.control.inject_fault("unauthorized", count=1)
        mirror.deliver_once()
        response = client.get("/")
        (row,) = response.context["shopify_mirror"]
        assert (row["label"], row["backlog"], row["failed"]) == ("Paused: reconnect", 0, 1)
        assert "access token" in row["error"]
        page = response.content.decode()
        assert 'id="shopify-mirror"' in page and mirror.domain in page
        assert "kind__startswith=shopify." in page  # the failed count links to the outbox


def test_a_merchant_never_sees_another_merchants_store_health(make_merchant, make_user):
    with running_mirror(make_merchant) as mirror:
        mirror.place()
        mirror.deliver()
        other = make_merchant(name="Someone else")
        client = Client()
        client.force_login(make_user(role=Role.MERCHANT_ADMIN, merchant=other))

        response = client.get("/")

        assert response.context["shopify_mirror"] == []
        assert mirror.domain not in response.content.decode()
