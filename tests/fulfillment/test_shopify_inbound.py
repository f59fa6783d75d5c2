"""Fulfillments made in the merchant's Shopify admin (issue 12, R3): the webhook, signed and
delivered by the emulator to our live server, becomes a Keelson fulfillment with the same
items, ship date, carrier and tracking, confirmed on Amazon; our own fulfillment coming back
changes nothing."""

from __future__ import annotations

import pytest
from django.utils.dateparse import parse_datetime

from fulfillment.models import Fulfillment
from fulfillment.services import SHOPIFY_FULFILLMENT_KIND
from integrations.models import WebhookStatus
from orders.models import ShopifyState
from tenants.scope import tenant_context
from tests.fulfillment.test_shopify_mirror import TWO_ITEMS, fulfil, lines_of
from tests.support.shopify_mirror import running_mirror
from tests.support.shopify_webhooks import receive, subscribe

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_fulfilment_in_shopify_becomes_a_keelson_fulfilment_confirmed_on_amazon_R3(
    make_merchant, live_server, settings
):
    with running_mirror(make_merchant) as mirror:
        subscribe(mirror, live_server, settings)
        order = mirror.place(TWO_ITEMS)
        mirror.deliver()
        assert mirror.fresh(order).shopify_state == ShopifyState.SYNCED
        (created,) = mirror.store_orders()

        mirror.shopify.control.fulfil(
            mirror.domain,
            created.pk,
            lines=[{"sku": "TENT-2P", "quantity": 2}],
            tracking={"company": "UPS", "number": "1ZSHOPIFY01"},
        )
        (receipt,) = receive(mirror, "fulfillments/create")

        assert receipt.status == WebhookStatus.PROCESSED, receipt.outcome
        with tenant_context(mirror.merchant):
            (fulfillment,) = Fulfillment.objects.filter(order=order)
            assert (fulfillment.carrier, fulfillment.tracking_number) == ("UPS", "1ZSHOPIFY01")
            assert [(fl.order_line.sku, fl.quantity) for fl in fulfillment.lines.all()] == [
                ("TENT-2P", 2)
            ]
        shopify_created_at = created.fulfillments.get().created_at
        assert fulfillment.ship_date.replace(microsecond=0) == shopify_created_at.replace(
            microsecond=0
        )
        mirror.deliver()
        amazon = mirror.amazon.control.order(
            mirror.amazon.seller["selling_partner_id"], order.external_id
        )
        assert amazon["status"] == "PartiallyShipped", amazon
        (package,) = amazon["packages"]
        # R3: the same ship date, carrier and tracking on Amazon.
        assert package["tracking_number"] == "1ZSHOPIFY01"
        assert package["carrier_code"] == "UPS"
        assert parse_datetime(package["ship_date"]) == shopify_created_at.replace(microsecond=0)
        # It came from Shopify: it keeps the Shopify id and is never written back.
        assert created.fulfillments.count() == 1
        assert mirror.fresh(fulfillment).shopify_fulfillment_id == (
            f"gid://shopify/Fulfillment/{created.fulfillments.get().pk}"
        )
        assert mirror.messages(SHOPIFY_FULFILLMENT_KIND) == []


def test_our_own_fulfilment_coming_back_from_shopify_changes_nothing(
    make_merchant, live_server, settings
):
    with running_mirror(make_merchant) as mirror:
        subscribe(mirror, live_server, settings)
        order = mirror.place(TWO_ITEMS)
        mirror.deliver()
        line = lines_of(mirror, order)
        fulfil(mirror, order, [(line["MAT-1"], 1)], "1ZKEELSON1")
        mirror.deliver()

        (receipt,) = receive(mirror, "fulfillments/create")

        assert "already in Keelson" in receipt.outcome
        with tenant_context(mirror.merchant):
            assert Fulfillment.objects.filter(order=order).count() == 1
