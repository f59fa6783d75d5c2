"""A service's connection and its end, through the use cases (issue 13): real callbacks record
the connection state; a request never goes to, nor stays stranded with, a service that no
longer serves the merchant (F1, F3); what it was not asked for is routed again, on the
timeline (F12)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction

from fulfillment import errors, services
from fulfillment.models import ConnectionStatus, FulfillmentLocation, FulfillmentOrder
from integrations.outbox import services as outbox
from integrations.outbox.models import OutboxMessage, OutboxStatus
from orders.models import OrderEvent
from tenants.models import ApiKey
from tenants.scope import tenant_context

pytestmark = pytest.mark.django_db


class Answering:
    """A callback receiver that answers every POST with ``status``."""

    def __init__(self, status: int) -> None:
        self.status = status
        answering = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(answering.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cb"

    def __enter__(self) -> Answering:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def refresh(shop, obj):
    with tenant_context(shop.merchant):
        obj.refresh_from_db()
    return obj


def test_real_callbacks_record_the_services_connection_state_F1(make_shop):
    with Answering(400) as refusing, Answering(200) as taking:
        shop = make_shop(callback_url=refusing.url)
        order = shop.order()
        with tenant_context(shop.merchant), transaction.atomic():
            services.submit_request(shop.fo(order).pk, actor=shop.merchant_actor)
        with tenant_context(shop.merchant):
            outbox.deliver_due()
            assert OutboxMessage.objects.get().status == OutboxStatus.FAILED  # 4xx: permanent
        service = refresh(shop, shop.service)
        assert service.connection_status == ConnectionStatus.FAILING
        assert "HTTP 400" in service.connection_error and service.connection_checked_at

        service.callback_url = taking.url
        service.save(update_fields=["callback_url"])
        with tenant_context(shop.merchant):
            outbox.retry_message(message=OutboxMessage.objects.get())
            outbox.deliver_due()
        service = refresh(shop, shop.service)
        assert service.connection_status == ConnectionStatus.CONNECTED
        assert service.connection_error == ""


def test_deactivation_is_refused_while_a_request_is_with_the_service_F3(shop):
    order = shop.order()
    fo = shop.fo(order)
    shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)

    with pytest.raises(errors.ServiceHasOpenRequests) as refused:
        services.deactivate_fulfillment_service(shop.service, actor=shop.merchant_actor)

    assert refused.value.code == "service_has_open_requests"
    assert order.external_id in refused.value.message and "F10" in refused.value.message
    assert refresh(shop, shop.service).is_active
    # The service can still answer and ship what it was asked.
    shop.run(services.accept_request, fo.pk, actor=shop.service_actor)


def test_deactivating_takes_the_service_off_what_it_was_not_asked_for_F1_F12(make_shop, shop):
    other = make_shop(merchant=shop.merchant)  # the merchant's default now
    services.add_location(service=shop.service, merchant=shop.merchant, skus=["SKU-1"])
    held = shop.order(lines=(("SKU-1", 1, "10.00"),), status="Pending")  # on hold (A1)
    order = shop.order(lines=(("SKU-1", 2, "20.00"),))
    fo, on_hold = shop.fo(order), shop.fo(held)
    assert fo.service == shop.service and on_hold.service == shop.service
    assert on_hold.state == ("on_hold", "unsubmitted")

    withdrawal = services.deactivate_fulfillment_service(shop.service, actor=shop.merchant_actor)

    assert sorted(withdrawal.moved) == sorted([held.external_id, order.external_id])
    assert withdrawal.waiting == [] and withdrawal.defaults_cleared == []
    with tenant_context(shop.merchant):
        fo.refresh_from_db()
        assert fo.state == ("cancelled", "unsubmitted")
        now = FulfillmentOrder.objects.filter(order=order).exclude(pk=fo.pk).get()
        assert now.service == other.service and now.lines.get().remaining_quantity == 2
        (note,) = OrderEvent.objects.filter(order=order, data__unassigned=True)
        on_hold.refresh_from_db()
        assert on_hold.state == ("cancelled", "unsubmitted")
        still_held = FulfillmentOrder.objects.filter(order=held).exclude(pk=on_hold.pk).get()
        assert still_held.service == other.service
        assert still_held.state == ("on_hold", "unsubmitted")
    assert note.actor == "Test merchant" and "SKU-1 × 2" in note.message
    assert other.service.name in note.message
    service = refresh(shop, shop.service)
    assert not service.is_active and service.connection_status == ConnectionStatus.DISCONNECTED
    assert ApiKey.objects.get(pk=service.api_key_id).revoked_at is not None
    # Again: nothing more happens.
    assert not services.deactivate_fulfillment_service(service, actor=shop.merchant_actor).changed


def test_a_stale_part_is_never_requested_from_a_service_that_stopped_serving_F1(make_shop, shop):
    other = make_shop(merchant=shop.merchant)
    services.add_location(service=shop.service, merchant=shop.merchant, skus=["SKU-1"])
    order = shop.order()
    fo = shop.fo(order)
    assert fo.service == shop.service
    # Left behind by a removal that could not lock this order (it arrived meanwhile).
    FulfillmentLocation.objects.filter(service=shop.service).update(is_active=False)

    with pytest.raises(errors.ServiceInactive) as refused:
        shop.run(services.submit_request, fo.pk, actor=shop.merchant_actor)
    assert "Request fulfillment" in refused.value.message
    assert refresh(shop, fo).state == ("open", "unsubmitted")

    (requested,) = shop.run(services.request_fulfillment, order.pk, actor=shop.merchant_actor)

    assert requested.service == other.service and requested.request_status == "submitted"
    assert refresh(shop, fo).state == ("cancelled", "unsubmitted")


def test_removing_the_last_location_leaves_the_items_waiting_and_says_so_F1(shop):
    order = shop.order()
    fo = shop.fo(order)
    location = FulfillmentLocation.objects.get(service=shop.service)

    withdrawal = services.remove_location(location, actor=shop.merchant_actor)

    assert withdrawal.waiting == [order.external_id] and withdrawal.moved == []
    assert withdrawal.defaults_cleared == [shop.merchant.name]
    assert refresh(shop, fo).state == ("cancelled", "unsubmitted")
    with tenant_context(shop.merchant):
        (note,) = OrderEvent.objects.filter(order=order, data__unassigned=True)
    assert "No other fulfillment service takes these items" in note.message
    # Added again, it serves the merchant again (as its default when asked).
    services.add_location(service=shop.service, merchant=shop.merchant, is_default=True)
    (made,) = shop.run(services.prepare_fulfillment_orders, order)
    assert made.service == shop.service
