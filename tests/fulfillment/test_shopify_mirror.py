"""Mirror out, fulfillments (issue 12; R3, R4, F7): a fulfillment made in Keelson is written to
the order's mirror in the merchant's Shopify store once, with its tracking, mapped by SKU onto
the Shopify fulfillment order lines, the buyer not notified; and confirmed on Amazon as
before. The real ShopifyAPI client against the Shopify emulator, the outbox's real delivery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fulfillment import services
from fulfillment.services import SHOPIFY_FULFILLMENT_KIND, ShipmentInput
from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.models import ShopifyState
from orders.shopify_mirror import CREATE_ORDER_KIND
from orders.tasks import reconcile_shopify_mirrors
from tenants.scope import tenant_context
from tests.support.shopify_mirror import connect_store, running_mirror

pytestmark = pytest.mark.django_db(transaction=True)

TWO_ITEMS = (
    {"quantity": 2, "unit_price": "20.00", "seller_sku": "TENT-2P", "item_tax": "0.00"},
    {"quantity": 1, "unit_price": "12.00", "seller_sku": "MAT-1", "item_tax": "0.00"},
)


def fulfil(mirror, order, lines=None, tracking="1Z0001", carrier="UPS"):
    with tenant_context(mirror.merchant):
        return services.fulfil_order(
            order.pk,
            actor=services.Actor(services.Side.MERCHANT, "Test merchant", "user"),
            lines=lines,
            shipment=ShipmentInput(
                tracking_number=tracking,
                carrier=carrier,
                ship_date=timezone.now().replace(microsecond=0) - timedelta(minutes=5),
                notify_customer=True,  # asked for; never sent for an Amazon order (R4)
            ),
        )


def lines_of(mirror, order) -> dict[str, int]:
    with tenant_context(mirror.merchant):
        return {line.sku: line.pk for line in order.lines.all()}


def test_a_fulfillment_is_mirrored_to_shopify_with_tracking_and_no_buyer_notice_R3_R4(
    make_merchant,
):
    with running_mirror(make_merchant) as mirror:
        order = mirror.place(TWO_ITEMS)
        mirror.deliver()
        assert mirror.fresh(order).shopify_state == ShopifyState.SYNCED
        line = lines_of(mirror, order)
        # F7: two packages, each written to Shopify as its own fulfillment.
        first = fulfil(mirror, order, [(line["TENT-2P"], 2)], "1Z0001")
        mirror.deliver()
        second = fulfil(mirror, order, [(line["MAT-1"], 1)], "1Z0002", carrier="FedEx")
        mirror.deliver()

        messages = mirror.messages(SHOPIFY_FULFILLMENT_KIND)
        assert [m.payload["fulfillment"] for m in messages] == [first.pk, second.pk]
        assert all(m.status == OutboxStatus.SENT for m in messages)
        (created,) = mirror.store_orders()
        fulfillments = list(created.fulfillments.order_by("id"))
        assert [(f.tracking_company, f.tracking_number) for f in fulfillments] == [
            ("UPS", "1Z0001"),
            ("FedEx", "1Z0002"),
        ]
        assert [f.notify_customer for f in fulfillments] == [False, False]
        items = {li.pk: li for li in created.line_items.all()}
        assert [
            [(items[int(x["line_item_id"])].sku, x["quantity"]) for x in f.lines]
            for f in fulfillments
        ] == [[("TENT-2P", 2)], [("MAT-1", 1)]]
        assert all(li.unfulfilled_quantity == 0 for li in items.values())
        # And Amazon was told too (R3), as before.
        assert {m.kind for m in mirror.messages()} >= {"amazon.confirm_shipment"}
        assert all(m.status == OutboxStatus.SENT for m in mirror.messages())


def test_a_fulfillment_sent_twice_is_written_to_shopify_once(make_merchant):
    with running_mirror(make_merchant) as mirror:
        order = mirror.place()
        mirror.deliver()
        fulfil(mirror, order)
        mirror.deliver()
        (message,) = mirror.messages(SHOPIFY_FULFILLMENT_KIND)
        with tenant_context(mirror.merchant):
            message.status = OutboxStatus.PENDING  # a retry, a second worker
            message.save(update_fields=["status"])
        mirror.deliver_once()
        message = mirror.fresh(message)
        assert message.status == OutboxStatus.SENT and message.result["found_existing"] is True
        (created,) = mirror.store_orders()
        assert created.fulfillments.count() == 1


def test_a_fulfillment_waits_until_its_order_is_in_shopify(make_merchant):
    with running_mirror(make_merchant) as mirror:
        order = mirror.place()
        # Creating the order in Shopify fails once (a 503): the order is not there yet.
        mirror.shopify.control.inject_fault("error_503", count=1, operations=["mutation"])
        mirror.deliver_once()
        assert mirror.fresh(order).shopify_state == ShopifyState.PENDING
        fulfil(mirror, order)
        with tenant_context(mirror.merchant):
            # Only the fulfillment is due now (the order's retry waits for its back-off).
            OutboxMessage.objects.filter(kind=CREATE_ORDER_KIND).update(
                next_attempt_at=timezone.now() + timedelta(hours=1)
            )
            outbox.deliver_due()
        (message,) = mirror.messages(SHOPIFY_FULFILLMENT_KIND)
        assert message.status == OutboxStatus.PENDING
        assert message.last_error_code == "shopify_order_not_mirrored"
        assert "not in the Shopify store" in message.last_error

        mirror.deliver()  # the order is created, then the fulfillment written
        assert mirror.fresh(message).status == OutboxStatus.SENT
        (created,) = mirror.store_orders()
        assert created.fulfillments.count() == 1


def test_no_store_no_fulfillment_message(make_merchant):
    with running_mirror(make_merchant, with_store=False) as mirror:
        order = mirror.place()
        fulfil(mirror, order)
        assert mirror.messages(SHOPIFY_FULFILLMENT_KIND) == []
        assert [m.kind for m in mirror.messages()] == ["amazon.confirm_shipment"]


def test_a_fulfillment_made_through_the_api_is_mirrored_too_R3(make_merchant, make_api_key, call):
    with running_mirror(make_merchant) as mirror:
        order = mirror.place()
        mirror.deliver()
        key = make_api_key(merchant=mirror.merchant)
        response = call(
            "post",
            f"/api/v1/orders/{order.pk}/fulfillments/",
            key=key,
            data={"tracking_number": "1ZAPI0001", "carrier": "UPS"},
        )
        assert response.status_code == 201, response.content
        mirror.deliver()
        (message,) = mirror.messages(SHOPIFY_FULFILLMENT_KIND)
        assert message.status == OutboxStatus.SENT
        (created,) = mirror.store_orders()
        (shipped,) = created.fulfillments.all()
        assert (shipped.tracking_number, shipped.notify_customer) == ("1ZAPI0001", False)


def test_a_fulfilment_made_before_the_store_was_connected_is_mirrored_by_the_reconcile_R3(
    make_merchant,
):
    """Reconcile (issue 12): an order shipped before its merchant connected the store is
    created there and then fulfilled with the same tracking, once; Amazon is not told twice."""
    with running_mirror(make_merchant, with_store=False) as mirror:
        order = mirror.place(TWO_ITEMS)
        made = fulfil(mirror, order, tracking="1ZBEFORE")
        mirror.deliver()
        assert mirror.messages(SHOPIFY_FULFILLMENT_KIND) == []
        store = connect_store(mirror.merchant, mirror.shopify)

        first = reconcile_shopify_mirrors()
        again = reconcile_shopify_mirrors()
        mirror.deliver()

        assert first["queued"] == {mirror.merchant.pk: {"orders": 1, "fulfillments": 1}}
        assert again["queued"] == {}
        (created,) = mirror.store_orders()
        (shopify_fulfillment,) = created.fulfillments.all()
        assert shopify_fulfillment.tracking_number == "1ZBEFORE"
        assert mirror.fresh(made).shopify_fulfillment_id == (
            f"gid://shopify/Fulfillment/{shopify_fulfillment.pk}"
        )
        (message,) = mirror.messages(SHOPIFY_FULFILLMENT_KIND)
        assert message.payload["store"] == store.pk
        assert message.status == OutboxStatus.SENT
        assert len(mirror.messages(services.AMAZON_CONFIRM_KIND)) == 1
        # Mirrored now: the next reconcile finds nothing to do.
        assert reconcile_shopify_mirrors()["queued"] == {}
