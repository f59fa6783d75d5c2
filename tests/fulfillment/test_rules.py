"""The fulfillment rules through the services, one scenario each, named after the rule
(../shared/docs/rules.md: F1-F12, A1, A6, R3, R4, R5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fulfillment import errors, selectors, services
from fulfillment.models import Fulfillment, FulfillmentOrder
from fulfillment.services import Actor, ShipmentInput
from integrations.outbox.models import OutboxMessage
from orders import policy
from orders.models import EventKind, Order, OrderEvent
from orders.selectors import assess_order
from tenants.scope import tenant_context
from tests.fulfillment.conftest import SHIPMENT

pytestmark = pytest.mark.django_db


def events(shop, order, kind=None):
    with tenant_context(shop.merchant):
        qs = OrderEvent.objects.filter(order=order).order_by("id")
        if kind:
            qs = qs.filter(kind=kind)
        return list(qs)


def reload(shop, obj):
    with tenant_context(shop.merchant):
        obj.refresh_from_db()
    return obj


def fo_lines(shop, fo):
    """(SKU, quantity, remaining) of a fulfillment order's lines."""
    with tenant_context(shop.merchant):
        return [
            (line.order_line.sku, line.quantity, line.remaining_quantity)
            for line in fo.lines.select_related("order_line").order_by("id")
        ]


def lines_of(shop, obj):
    """The lines (model rows) of a fulfillment order or an order, in id order."""
    with tenant_context(shop.merchant):
        return list(obj.lines.order_by("id"))


def callbacks(shop):
    with tenant_context(shop.merchant):
        return [
            m.payload["body"]
            for m in OutboxMessage.objects.filter(kind="fulfillment.callback").order_by("id")
        ]


def actions(shop, order):
    with tenant_context(shop.merchant):
        order = Order.objects.get(pk=order.pk)
        return assess_order(order, timezone.now()).actions


def test_requesting_fulfillment_is_recorded_and_locks_the_order_F1_F3_F5(make_shop):
    shop = make_shop(callback_url="http://127.0.0.1:9/callbacks")
    order = shop.order()
    fo = shop.fo(order)
    assert fo.state == ("open", "unsubmitted")
    assert not shop.run(selectors.has_fulfillment_request_in_progress, order)

    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor, note="Gift wrap, please")

    fo, order = reload(shop, fo), reload(shop, order)
    assert fo.state == ("open", "submitted") and fo.request_note == "Gift wrap, please"
    assert order.fulfillment_status == "in_progress"  # F5
    assert shop.run(selectors.has_fulfillment_request_in_progress, order)  # F3, for refunds
    refused = actions(shop, order)
    for action in (policy.Action.REFUND, policy.Action.CANCEL, policy.Action.MARK_FULFILLED):
        assert refused[action].code == "fulfillment_request_in_progress", action
    (event,) = events(shop, order, EventKind.FULFILLMENT_REQUESTED)
    assert "SKU-1 × 2" in event.message and "Gift wrap" in event.message
    assert event.actor == "Test merchant"
    assert callbacks(shop) == [
        {
            "kind": "fulfillment_request",
            "fulfillment_order": fo.pk,
            "merchant": shop.merchant.pk,
            "message": "Gift wrap, please",
        }
    ]


def test_legacy_request_cannot_be_cancelled_F4(legacy_shop):
    shop = legacy_shop
    order = shop.order()
    fo = shop.fo(order)
    # Before a request is sent, the order can still be cancelled.
    assert actions(shop, order)[policy.Action.CANCEL].allowed
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    assert reload(shop, fo).state == ("in_progress", "submitted")  # F1: it starts at once

    with pytest.raises(errors.LegacyRequestNotCancellable) as refused:
        shop.run(services.cancel_request, fo.pk, actor=shop.merchant_actor)

    assert refused.value.code == "legacy_request_not_cancellable"
    assert f"Contact {shop.service.name} directly" in refused.value.message
    assert reload(shop, fo).state == ("in_progress", "submitted")


def test_legacy_services_neither_accept_nor_reject_they_ship_F1(legacy_shop):
    shop = legacy_shop
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    with pytest.raises(errors.InvalidTransition):
        shop.run(services.accept_request, fo.pk, actor=shop.service_actor)
    shop.run(services.report_shipment, fo.pk, actor=shop.service_actor, shipment=SHIPMENT)
    assert reload(shop, order).fulfillment_status == "fulfilled"


def test_acceptance_is_recorded_on_the_timeline_F6(shop):
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor, message="Picking today")
    assert reload(shop, fo).state == ("in_progress", "accepted")
    (event,) = events(shop, order, EventKind.FULFILLMENT_ACCEPTED)
    assert event.actor_type == "fulfillment_service" and event.actor == shop.service.name
    assert "Picking today" in event.message


def test_rejected_request_returns_the_order_to_unfulfilled_with_the_note_F6(shop):
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)

    shop.run(services.reject_request, fo.pk, actor=shop.service_actor, message="SKU-1 unknown")

    fo, order = reload(shop, fo), reload(shop, order)
    assert fo.state == ("closed", "rejected") and fo.response_message == "SKU-1 unknown"
    assert order.fulfillment_status == "unfulfilled"
    (event,) = events(shop, order, EventKind.FULFILLMENT_REJECTED)
    assert "SKU-1 unknown" in event.message and "unfulfilled again" in event.message
    fresh = shop.fo(order)  # the lines wait in a new fulfillment order, ready to request again
    assert fresh.pk != fo.pk and fresh.state == ("open", "unsubmitted")
    assert fo_lines(shop, fresh) == [("SKU-1", 2, 2)]
    assert actions(shop, order)[policy.Action.REQUEST_FULFILLMENT].allowed


def test_partial_shipments_fulfil_the_order_only_when_every_line_is_F7(shop):
    order = shop.order(lines=(("SKU-1", 2, "20.00"), ("SKU-2", 1, "5.00")))
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor)
    first, second = lines_of(shop, fo)

    shop.run(
        services.report_shipment,
        fo.pk,
        actor=shop.service_actor,
        lines=[(first.pk, 1)],
        shipment=SHIPMENT,
    )
    order = reload(shop, order)
    assert order.fulfillment_status == "in_progress"  # the request goes on for the rest
    assert reload(shop, fo).state == ("in_progress", "accepted")
    assert [line.remaining_quantity for line in lines_of(shop, fo)] == [1, 1]

    shop.run(
        services.report_shipment,
        fo.pk,
        actor=shop.service_actor,
        lines=[(first.pk, 1), (second.pk, 1)],
        shipment=ShipmentInput(tracking_number="1Z2", carrier="UPS"),
    )
    assert reload(shop, fo).state == ("closed", "closed")
    assert reload(shop, order).fulfillment_status == "fulfilled"
    assert len(events(shop, order, EventKind.FULFILLED)) == 2


def test_an_order_partly_fulfilled_with_no_request_is_partially_fulfilled_F7(shop):
    order = shop.order(lines=(("SKU-1", 2, "20.00"), ("SKU-2", 1, "5.00")))
    line = lines_of(shop, order)[0]
    shop.run(
        services.fulfil_order,
        order.pk,
        actor=shop.merchant_actor,
        lines=[(line.pk, 2)],
        shipment=SHIPMENT,
    )
    assert reload(shop, order).fulfillment_status == "partially_fulfilled"
    # The unrequested fulfillment order keeps only what is left.
    fo = shop.fo(order)
    assert fo_lines(shop, fo) == [("SKU-1", 2, 0), ("SKU-2", 1, 1)]


def test_a_submitted_request_is_cancelled_at_once_F8(make_shop):
    shop = make_shop(callback_url="http://127.0.0.1:9/callbacks")
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)

    shop.run(services.cancel_request, fo.pk, actor=shop.merchant_actor, note="Wrong address")

    assert reload(shop, fo).state == ("cancelled", "closed")
    assert reload(shop, order).fulfillment_status == "unfulfilled"
    assert "cancelled before it was accepted" in events(shop, order)[-1].message
    assert [c["kind"] for c in callbacks(shop)] == ["fulfillment_request", "cancellation_request"]
    assert shop.fo(order).state == ("open", "unsubmitted")


def test_cancelling_an_accepted_request_asks_the_service_which_accepts_F9(make_shop):
    shop = make_shop(callback_url="http://127.0.0.1:9/callbacks")
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor)

    shop.run(services.cancel_request, fo.pk, actor=shop.merchant_actor, note="Buyer cancelled")

    fo = reload(shop, fo)
    assert fo.state == ("in_progress", "cancellation_requested")
    assert fo.cancellation_note == "Buyer cancelled"
    assert reload(shop, order).fulfillment_status == "in_progress"
    assert callbacks(shop)[-1] == {
        "kind": "cancellation_request",
        "fulfillment_order": fo.pk,
        "merchant": shop.merchant.pk,
        "message": "Buyer cancelled",
    }
    (asked,) = events(shop, order, EventKind.CANCELLATION_REQUESTED)
    assert "Note to the service: Buyer cancelled" in asked.message

    shop.run(services.accept_cancellation, fo.pk, actor=shop.service_actor, message="Stopped")

    assert reload(shop, fo).state == ("cancelled", "cancellation_accepted")
    assert reload(shop, order).fulfillment_status == "unfulfilled"
    assert "Stopped" in events(shop, order, EventKind.CANCELLATION_ACCEPTED)[-1].message


def test_a_rejected_cancellation_lets_fulfillment_continue_F9(shop):
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor)
    shop.run(services.cancel_request, fo.pk, actor=shop.merchant_actor)

    shop.run(services.reject_cancellation, fo.pk, actor=shop.service_actor, message="Packed")

    assert reload(shop, fo).state == ("in_progress", "cancellation_rejected")
    (rejected,) = events(shop, order, EventKind.CANCELLATION_REJECTED)
    assert "Packed" in rejected.message and "continues" in rejected.message
    shop.run(services.report_shipment, fo.pk, actor=shop.service_actor, shipment=SHIPMENT)
    assert reload(shop, fo).state == ("closed", "closed")
    assert reload(shop, order).fulfillment_status == "fulfilled"


def test_cancellation_accepted_after_a_partial_shipment_leaves_it_incomplete_F9(shop):
    order = shop.order(lines=(("SKU-1", 3, "30.00"),))
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor)
    (line,) = lines_of(shop, fo)
    shop.run(
        services.report_shipment,
        fo.pk,
        actor=shop.service_actor,
        lines=[(line.pk, 1)],
        shipment=SHIPMENT,
    )
    shop.run(services.cancel_request, fo.pk, actor=shop.merchant_actor)
    shop.run(services.accept_cancellation, fo.pk, actor=shop.service_actor)

    assert reload(shop, fo).state == ("incomplete", "cancellation_accepted")
    assert reload(shop, order).fulfillment_status == "partially_fulfilled"
    fresh = shop.fo(order)
    assert fo_lines(shop, fresh) == [("SKU-1", 2, 2)]


def test_revert_per_line_then_whole_with_the_inventory_reminder_F10(shop):
    order = shop.order(lines=(("SKU-1", 2, "20.00"), ("SKU-2", 1, "5.00")))
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor)
    _first, second = lines_of(shop, fo)

    _, reminder = shop.run(
        services.revert_to_unfulfilled, fo.pk, actor=shop.merchant_actor, lines=[(second.pk, None)]
    )

    assert "Check your inventory" in reminder
    assert reload(shop, fo).state == ("in_progress", "accepted")  # the rest goes on
    reverted = events(shop, order, EventKind.REVERTED)[-1]
    assert "Some items reverted" in reverted.message and "SKU-2 × 1" in reverted.message
    assert "Check your inventory" in reverted.message
    assert reload(shop, order).fulfillment_status == "in_progress"

    shop.run(services.revert_to_unfulfilled, fo.pk, actor=shop.merchant_actor)

    assert reload(shop, fo).state == ("cancelled", "closed")
    assert reload(shop, order).fulfillment_status == "unfulfilled"
    assert "The order reverted" in events(shop, order, EventKind.REVERTED)[-1].message
    with tenant_context(shop.merchant):
        unrequested = FulfillmentOrder.objects.filter(order=order, request_status="unsubmitted")
        fresh = sorted(line for f in unrequested for line in fo_lines(shop, f))
    assert fresh == [("SKU-1", 2, 2), ("SKU-2", 1, 1)]


def test_mark_as_fulfilled_is_refused_while_a_request_is_in_progress_F11(shop):
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    with pytest.raises(errors.FulfillmentRequestInProgress) as refused:
        shop.run(services.fulfil_order, order.pk, actor=shop.merchant_actor, shipment=SHIPMENT)
    assert refused.value.code == "fulfillment_request_in_progress"
    assert "cancel it first" in refused.value.message
    with tenant_context(shop.merchant):
        assert not Fulfillment.objects.filter(order=order).exists()


def test_mark_as_fulfilled_with_tracking_never_notifies_an_amazon_buyer_F11_R4(shop):
    order = shop.order()
    fulfillment = shop.run(
        services.fulfil_order,
        order.pk,
        actor=shop.merchant_actor,
        shipment=ShipmentInput(
            tracking_number="9400111899223197428490", carrier="USPS", notify_customer=True
        ),
    )
    order = reload(shop, order)
    assert order.fulfillment_status == "fulfilled"
    assert fulfillment.notify_customer and not fulfillment.customer_notified
    (event,) = events(shop, order, EventKind.FULFILLED)
    assert "9400111899223197428490" in event.message and "USPS" in event.message
    assert "No customer notification was sent" in event.message
    assert event.data["customer_notification"] == "suppressed (R4)"
    assert reload(shop, shop.fo(order)).state == ("closed", "unsubmitted")


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"status": "Pending", "purchase_date_delta": 5}, "order_pending"),  # A1
        ({"status": "Pending"}, "order_pending"),  # A2: still verifying
        ({"status": "Canceled"}, "order_not_shippable"),  # A6
        ({"status": "Shipped"}, "order_not_shippable"),  # A6
        ({"fulfillment_channel": "AFN"}, "order_read_only"),  # R5
    ],
)
def test_pending_canceled_and_afn_orders_cannot_be_fulfilled_A1_A6_R5(shop, fields, code):
    delta = fields.pop("purchase_date_delta", None)
    if delta is not None:
        fields["purchase_date"] = timezone.now() - timedelta(minutes=delta)
    order = shop.order(**fields)
    with pytest.raises(errors.DomainError) as refused:
        shop.run(services.fulfil_order, order.pk, actor=shop.merchant_actor, shipment=SHIPMENT)
    assert refused.value.code == code
    with pytest.raises(errors.DomainError) as refused:
        shop.run(services.request_fulfillment, order.pk, actor=shop.merchant_actor)
    assert refused.value.code == code
    with tenant_context(shop.merchant):
        fos = list(FulfillmentOrder.objects.filter(order=order))
    if fields.get("status") == "Pending":
        assert [f.state for f in fos] == [("on_hold", "unsubmitted")]  # A1: held
    elif code == "order_read_only" or fields.get("status") == "Canceled":
        assert fos == []  # nothing to fulfil here


def test_amazon_needs_a_tracking_number_and_a_carrier_to_confirm_R3(shop):
    order = shop.order()
    with pytest.raises(errors.InvalidFulfillmentInput) as refused:
        shop.run(services.fulfil_order, order.pk, actor=shop.merchant_actor)
    assert refused.value.status == 400 and refused.value.code == "validation_error"
    assert set(refused.value.errors) == {"tracking_number", "carrier"}


def test_more_than_what_remains_is_a_422(shop):
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor)
    (line,) = lines_of(shop, fo)
    with pytest.raises(errors.QuantityExceeded) as refused:
        shop.run(
            services.report_shipment,
            fo.pk,
            actor=shop.service_actor,
            lines=[(line.pk, 3)],
            shipment=SHIPMENT,
        )
    assert refused.value.status == 422 and "3 asked, 2 left" in refused.value.message
    with pytest.raises(errors.InvalidFulfillmentInput) as unknown:
        shop.run(
            services.report_shipment,
            fo.pk,
            actor=shop.service_actor,
            lines=[(999999, 1)],
            shipment=SHIPMENT,
        )
    assert "lines[0].line" in unknown.value.errors


def test_notes_from_both_sides_are_on_the_timeline_F12(shop):
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.add_note, fo.pk, actor=shop.merchant_actor, message="Fragile")
    shop.run(services.add_note, fo.pk, actor=shop.service_actor, message="Double boxed")
    merchant_note, service_note = events(shop, order, EventKind.NOTE)
    assert merchant_note.actor_type == "user" and "Fragile" in merchant_note.message
    assert service_note.actor_type == "fulfillment_service"
    assert f"Note from {shop.service.name}" in service_note.message


def test_a_service_cannot_answer_for_another_service(shop, make_shop):
    other = make_shop(merchant=shop.merchant)  # becomes the merchant's default
    order = shop.order()
    fo = shop.fo(order)
    assert fo.service_id == other.service.pk
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    with pytest.raises(errors.NotYourAction):
        shop.run(services.accept_request, fo.pk, actor=Actor.service(shop.service))


def test_lines_go_to_the_service_their_sku_is_assigned_to_then_the_default(shop, make_shop):
    other = services.create_fulfillment_service(
        name="Cold storage", merchant=shop.merchant, issue_api_key=False
    ).service
    # create_fulfillment_service made it the default; give the default back, assign one SKU
    services.add_location(service=shop.service, merchant=shop.merchant, is_default=True)
    services.add_location(service=other, merchant=shop.merchant, skus=["ICE-1"])
    order = shop.order(lines=(("SKU-1", 1, "10.00"), ("ICE-1", 2, "8.00")))
    with tenant_context(shop.merchant):
        fos = {
            fo.service_id: fo_lines(shop, fo) for fo in FulfillmentOrder.objects.filter(order=order)
        }
    assert fos == {shop.service.pk: [("SKU-1", 1, 1)], other.pk: [("ICE-1", 2, 2)]}
    # Two services, two requests: the second is not refused because the first is in progress.
    with tenant_context(shop.merchant):
        requested = services.request_fulfillment(order.pk, actor=shop.merchant_actor)
    assert len(requested) == 2
    assert reload(shop, order).fulfillment_status == "in_progress"
